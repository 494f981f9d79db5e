// GET /api/v1/repository (every page), POST /api/v1/repository.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {get, post, query} from 'src/libs/api';

export interface RepositorySummary {
  namespace: string;
  name: string;
  description: string | null;
  is_public: boolean;
  last_modified?: number | null;
  popularity?: number;
}

const MAX_PAGES = 50; // 5,000 repositories: beyond that, narrow the list by namespace

export function useRepositories(namespace?: string) {
  return useQuery({
    queryKey: ['repositories', namespace ?? ''],
    queryFn: async () => {
      const all: RepositorySummary[] = [];
      let next: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const params = {public: namespace ? undefined : 'true', namespace, last_modified: 'true', next_page: next};
        const body = await get<{repositories: RepositorySummary[]; next_page?: string}>(
          `/api/v1/repository${query(params)}`,
        );
        all.push(...body.repositories);
        next = body.next_page;
        if (!next) break;
      }
      return all;
    },
  });
}

export interface NewRepository {
  namespace: string;
  repository: string;
  visibility: 'public' | 'private';
  description?: string;
}

export function useCreateRepository() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (repo: NewRepository) => post('/api/v1/repository', {...repo, description: repo.description ?? ''}),
    onSuccess: () => client.invalidateQueries({queryKey: ['repositories']}),
  });
}
