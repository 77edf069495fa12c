import type { ImageJobData } from './schemas.js';

/** The result key (and job id source) of one page of a document: `<key>#page=<n>`, n from 1. */
export function pageKey(key: string, page: number): string {
  return `${key}#page=${page}`;
}

/** The key a job's result line carries: its page's key for a page job, else the source key. */
export function resultKeyOf(data: Pick<ImageJobData, 'source' | 'page'>): string {
  return data.page === undefined ? data.source.key : pageKey(data.source.key, data.page);
}
