// GET /config: the registry's public settings and features (Quay's shape).
import {useQuery} from '@tanstack/react-query';
import {get} from 'src/libs/api';

export interface FrontendConfig {
  config: {
    SERVER_HOSTNAME?: string;
    PREFERRED_URL_SCHEME?: string;
    AUTHENTICATION_TYPE?: string;
    REGISTRY_TITLE?: string;
    REGISTRY_TITLE_SHORT?: string;
    TAG_EXPIRATION_OPTIONS?: string[];
  };
  features: Record<string, boolean>;
  external_login: {id: string; title: string; icon: string | null}[];
  version_number: string;
}

export function useConfig() {
  return useQuery({queryKey: ['config'], queryFn: () => get<FrontendConfig>('/config'), staleTime: Infinity});
}
