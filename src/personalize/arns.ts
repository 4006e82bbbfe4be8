/**
 * Amazon Personalize names resources by ARN. Attune serves every campaign and recommender with
 * its live model, so their ARNs are only checked for shape; filters are Attune's own, named in
 * the ARN's last part.
 */
const ARN = /^arn:aws[a-z-]*:personalize:([a-z0-9-]*):([0-9]{0,12}):(campaign|recommender|filter)\/([A-Za-z0-9][A-Za-z0-9_-]{0,62})$/;

export type ResourceKind = 'campaign' | 'recommender' | 'filter';

export interface ParsedArn {
  kind: ResourceKind;
  name: string;
}

export function parseArn(arn: string): ParsedArn | null {
  const match = ARN.exec(arn);
  if (match === null) return null;
  return { kind: match[3] as ResourceKind, name: match[4] };
}

/** Attune's ARNs name no real region or account. */
export function filterArn(name: string): string {
  return `arn:aws:personalize:attune:000000000000:filter/${name}`;
}

/** What a filter name may be (the ARN's last part): Personalize's own rule. */
export const FILTER_NAME = '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$';
