/** A harness child (node, Redis, baseline server) could not be started or died: the run cannot go on. */
export class SetupError extends Error {
  override name = 'SetupError';
}
