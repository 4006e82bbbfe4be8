import type { ReducerConfig } from '../session/state.js';
import { Scorer, type ScorerOptions } from './scorer.js';
import { servingModel, type ServingModel } from './serving-model.js';
import type { ModelManifest } from './types.js';

interface LoadedModel extends ServingModel {
  scorer: Scorer;
  dir: string;
}

/**
 * The model this node serves, swappable while it serves. A swap loads and checks the new bundle
 * first; only a bundle that loaded replaces the current one, and the old scorer is closed after
 * the requests already queued on it are answered.
 */
export class ModelSlot {
  private current: LoadedModel;
  private swapping: Promise<unknown> = Promise.resolve();

  private constructor(
    initial: LoadedModel,
    private readonly options: ScorerOptions,
    private readonly reducerDefaults: ReducerConfig,
  ) {
    this.current = initial;
  }

  static async load(dir: string, options: ScorerOptions, reducerDefaults: ReducerConfig): Promise<ModelSlot> {
    return new ModelSlot(await loadModel(dir, options, reducerDefaults), options, reducerDefaults);
  }

  get(): ServingModel {
    return this.current;
  }

  get scorer(): Scorer {
    return this.current.scorer;
  }

  get manifest(): ModelManifest {
    return this.current.scorer.manifest;
  }

  get dir(): string {
    return this.current.dir;
  }

  /**
   * Replaces the served model with the bundle in `dir`; swaps run one at a time. `accept` sees the
   * loaded bundle first and may refuse it by throwing (the bundle is closed, the current one stays).
   */
  swap(dir: string, accept: (candidate: Scorer) => void = () => {}): Promise<{ previous: ModelManifest; current: ModelManifest }> {
    const run = this.swapping.then(async () => {
      const next = await loadModel(dir, this.options, this.reducerDefaults);
      try {
        accept(next.scorer);
      } catch (err) {
        await next.scorer.close();
        throw err;
      }
      const previous = this.current;
      this.current = next;
      await previous.scorer.close();
      return { previous: previous.scorer.manifest, current: next.scorer.manifest };
    });
    this.swapping = run.catch(() => undefined);
    return run;
  }

  close(): Promise<void> {
    return this.swapping.then(() => this.current.scorer.close());
  }
}

async function loadModel(dir: string, options: ScorerOptions, reducerDefaults: ReducerConfig): Promise<LoadedModel> {
  const scorer = await Scorer.load(dir, options);
  return { ...servingModel(scorer, reducerDefaults), scorer, dir };
}
