// Compiled (not run) by the type-check test: a React app's use of the hook
// and an exhaustive switch over every frame type must type-check.
import { useHotReload } from '../../hooks/useHotReload';
import type { Frame } from '../../hooks/frames';

export function describe(frame: Frame): string {
  switch (frame.type) {
    case 'hello':
      return `protocol ${frame.protocol} at ${frame.revision}`;
    case 'snapshot':
      return `${frame.workflows.length} workflows`;
    case 'reload':
      return `${frame.summary}: ${frame.patches.map((p) => `${p.id} ${p.changes.map((c) => c.path).join()}`).join()}`;
    case 'integration_status':
      return `${frame.id} ${frame.status} ${frame.http_status ?? ''}`;
    default: {
      const never: never = frame;
      return never;
    }
  }
}

export function useSummary(): string {
  const { status, revision, workflows, errors, lastEvent } = useHotReload({
    baseUrl: 'http://127.0.0.1:7878',
    onReload: (frame) => frame.summary,
    onError: (list) => list.map((e) => `${e.file}:${e.line}:${e.column}`),
    onIntegrationStatus: (frame) => frame.status,
  });
  return `${status} ${revision ?? '-'} ${workflows.length} ${errors.length} ${lastEvent?.summary ?? ''}`;
}
