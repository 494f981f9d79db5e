// GET /api/v1/repository/{ns}/{repo}/manifest/{digest}/security (Clair v4, Quay's shape).
import {useQuery} from '@tanstack/react-query';
import {get, path} from 'src/libs/api';

export interface Vulnerability {
  Name: string;
  Severity: string;
  Link: string;
  FixedBy: string;
  Description?: string;
}

export interface Feature {
  Name: string;
  Version: string;
  AddedBy?: string;
  Vulnerabilities?: Vulnerability[];
}

export interface SecurityReport {
  status: string;
  data: {Layer: {Features: Feature[]}} | null;
}

export function useSecurity(namespace: string, name: string, digest: string | undefined, enabled: boolean) {
  return useQuery({
    queryKey: ['security', namespace, name, digest],
    enabled: enabled && !!digest,
    queryFn: () =>
      get<SecurityReport>(
        path`/api/v1/repository/${namespace}/${name}/manifest/${digest ?? ''}/security` + '?vulnerabilities=true',
      ),
    refetchInterval: (q) => (q.state.data?.status === 'queued' ? 10_000 : false),
  });
}
