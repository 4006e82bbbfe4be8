import type { ModelDescription } from './trained-model.js';
import type { PipelineOptions } from './train-pipeline.js';

/** What every protocol reports (each adds its own counts and cases). */
export interface EvaluationReport extends ModelDescription {
  dataset: string;
  /** Every item the data names. */
  items: number;
  /** Tuning and training, seconds. */
  trainSeconds: number;
  /** Serving-path scoring (leave-one-out: of validation and test cases), seconds. */
  evaluateSeconds: number;
  /** Every test case, serving path (leave-one-out: each user's last item). */
  metrics: Record<string, number>;
  /**
   * The validation cases the model was tuned on. Leave-one-out: each user's second-to-last item,
   * serving path, by the model tuned on it; sessions: the twin's tuning metrics on the latest 10%
   * of training sessions.
   */
  validation: Record<string, number>;
  baseline: { popularity: Record<string, number> };
}

/** Options of an evaluation run: the pipeline's, for the protocol the run implies. */
export interface EvaluateOptions extends Omit<PipelineOptions, 'protocol'> {
  dataset?: string;
}
