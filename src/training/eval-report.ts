import type { PipelineOptions } from './train-pipeline.js';

/** Options of an evaluation run: the pipeline's, for the protocol the run implies. */
export interface EvaluateOptions extends Omit<PipelineOptions, 'protocol'> {
  dataset?: string;
}
