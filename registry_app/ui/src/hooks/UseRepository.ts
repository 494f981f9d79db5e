// GET/PUT/DELETE /api/v1/repository/{ns}/{repo} and its changevisibility.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {del, get, path, post, put} from 'src/libs/api';

export interface Repository {
  namespace: string;
  name: string;
  description: string | null;
  is_public: boolean;
  is_organization: boolean;
  can_write: boolean;
  can_admin: boolean;
  tag_expiration_s: number;
  state: string;
}

export function useRepository(namespace: string, name: string) {
  return useQuery({
    queryKey: ['repository', namespace, name],
    queryFn: () => get<Repository>(path`/api/v1/repository/${namespace}/${name}`),
  });
}

export function useRepositoryChanges(namespace: string, name: string) {
  const client = useQueryClient();
  const base = path`/api/v1/repository/${namespace}/${name}`;
  const refresh = () => {
    client.invalidateQueries({queryKey: ['repository', namespace, name]});
    client.invalidateQueries({queryKey: ['repositories']});
  };
  return {
    setDescription: useMutation({
      mutationFn: (description: string) => put(base, {description}),
      onSuccess: refresh,
    }),
    setVisibility: useMutation({
      mutationFn: (visibility: 'public' | 'private') => post(`${base}/changevisibility`, {visibility}),
      onSuccess: refresh,
    }),
    remove: useMutation({
      mutationFn: () => del(base),
      onSuccess: () => client.invalidateQueries({queryKey: ['repositories']}),
    }),
  };
}
