import { useEffect, useState } from 'preact/hooks';
import { ApiError, request } from '../api';

/**
 * An input's thumbnail, fetched with the session's key (an <img src> cannot send it) and shown
 * from a blob: URL; an input that is not an image shows its error code instead.
 */
export function Thumbnail({ batchId, inputKey, size = 'small' }: { batchId: string; inputKey: string; size?: 'small' | 'large' }) {
  const [url, setUrl] = useState<string>();
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    let objectUrl: string | undefined;
    let cancelled = false;
    request(`/v1/batches/${encodeURIComponent(batchId)}/thumbnail?key=${encodeURIComponent(inputKey)}`)
      .then((response) => response.blob())
      .then((blob) => {
        if (cancelled) return;
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      })
      .catch((error: unknown) => !cancelled && setProblem(error instanceof ApiError ? error.code : 'unavailable'));
    return () => {
      cancelled = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [batchId, inputKey]);
  if (problem) return <div class={`thumb thumb-${size} thumb-missing`}>no preview ({problem})</div>;
  if (!url) return <div class={`thumb thumb-${size} thumb-loading`} aria-busy="true" />;
  return <img class={`thumb thumb-${size}`} src={url} alt={`Input ${inputKey}`} />;
}
