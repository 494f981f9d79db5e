// GET /api/v1/repository/{ns}/{repo}/manifest/{digest} and its labels.
import {useQuery} from '@tanstack/react-query';
import {get, path} from 'src/libs/api';

export interface Layer {
  index: number;
  compressed_size: number | null;
  blob_digest: string;
  command: string[] | null;
  created_datetime: string | null;
}

export interface Manifest {
  digest: string;
  is_manifest_list: boolean;
  manifest_data: string;
  config_media_type: string | null;
  layers: Layer[] | null;
}

export interface Platform {
  digest: string;
  size: number;
  os: string;
  architecture: string;
  variant?: string;
}

export function platformsOf(manifest: Manifest | undefined): Platform[] {
  if (!manifest?.is_manifest_list) return [];
  try {
    const data = JSON.parse(manifest.manifest_data) as {
      manifests?: {digest: string; size: number; platform?: {os?: string; architecture?: string; variant?: string}}[];
    };
    return (data.manifests ?? []).map((m) => ({
      digest: m.digest,
      size: m.size,
      os: m.platform?.os ?? 'unknown',
      architecture: m.platform?.architecture ?? 'unknown',
      variant: m.platform?.variant,
    }));
  } catch {
    return [];
  }
}

export function useManifest(namespace: string, name: string, digest: string | undefined, enabled = true) {
  return useQuery({
    queryKey: ['manifest', namespace, name, digest],
    queryFn: () => get<Manifest>(path`/api/v1/repository/${namespace}/${name}/manifest/${digest ?? ''}`),
    enabled: enabled && !!digest,
    staleTime: Infinity, // a manifest never changes under its digest
  });
}

export interface Label {
  id: string;
  key: string;
  value: string;
  source_type: string;
}

export function useManifestLabels(namespace: string, name: string, digest: string | undefined) {
  return useQuery({
    queryKey: ['labels', namespace, name, digest],
    queryFn: () =>
      get<{labels: Label[]}>(path`/api/v1/repository/${namespace}/${name}/manifest/${digest ?? ''}/labels`),
    enabled: !!digest,
  });
}
