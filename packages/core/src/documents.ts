import type { ImageJobData } from './schemas.js';

/** The result key (and job id source) of one page of a document: `<key>#page=<n>`, n from 1. */
export function pageKey(key: string, page: number): string {
  return `${key}#page=${page}`;
}

/** The key a job's result line carries: its page's key for a page job, else the source key. */
export function resultKeyOf(data: Pick<ImageJobData, 'source' | 'page'>): string {
  return data.page === undefined ? data.source.key : pageKey(data.source.key, data.page);
}

/** Whether a result line's key is a page's (`<key>#page=<n>`): a listed input's key ends in its extension, never so. */
export function isPageKey(key: string): boolean {
  return /#page=[1-9]\d*$/.test(key);
}

/** A result key split into its source key and, for a page's key (`<key>#page=<n>`), the page. */
export function splitPageKey(resultKey: string): { key: string; page?: number } {
  const match = /^(.*)#page=([1-9]\d*)$/s.exec(resultKey);
  return match ? { key: match[1]!, page: Number(match[2]) } : { key: resultKey };
}
