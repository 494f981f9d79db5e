// GET /api/v1/repository/{ns}/{repo}/tag/ (live tags, or the whole history), tag delete,
// restore and expiration.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {del, get, path, post, put, query} from 'src/libs/api';

export interface Tag {
  name: string;
  manifest_digest: string;
  is_manifest_list: boolean;
  size: number | null;
  start_ts?: number;
  end_ts?: number;
  last_modified?: string;
  expiration?: string;
}

interface TagPage {
  tags: Tag[];
  page: number;
  has_additional: boolean;
}

const PAGE = 100;
const MAX_PAGES = 50;

async function allTags(base: string, params: Record<string, string | undefined>): Promise<Tag[]> {
  const out: Tag[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const body = await get<TagPage>(`${base}${query({...params, page, limit: PAGE})}`);
    out.push(...body.tags);
    if (!body.has_additional) break;
  }
  return out;
}

export function useTags(namespace: string, name: string) {
  const base = path`/api/v1/repository/${namespace}/${name}/tag/`;
  return useQuery({
    queryKey: ['tags', namespace, name],
    queryFn: () => allTags(base, {onlyActiveTags: 'true'}),
  });
}

export function useTagHistory(namespace: string, name: string, tag?: string) {
  const base = path`/api/v1/repository/${namespace}/${name}/tag/`;
  return useQuery({
    queryKey: ['tag-history', namespace, name, tag ?? ''],
    queryFn: () => allTags(base, {specificTag: tag}),
  });
}

export function useTagChanges(namespace: string, name: string) {
  const client = useQueryClient();
  const refresh = () => {
    client.invalidateQueries({queryKey: ['tags', namespace, name]});
    client.invalidateQueries({queryKey: ['tag-history', namespace, name]});
  };
  const tagPath = (tag: string) => path`/api/v1/repository/${namespace}/${name}/tag/${tag}`;
  return {
    remove: useMutation({mutationFn: (tag: string) => del(tagPath(tag)), onSuccess: refresh}),
    restore: useMutation({
      mutationFn: (v: {tag: string; digest: string}) =>
        post(`${tagPath(v.tag)}/restore`, {manifest_digest: v.digest}),
      onSuccess: refresh,
    }),
    setExpiration: useMutation({
      mutationFn: (v: {tag: string; expiration: number | null}) => put(tagPath(v.tag), {expiration: v.expiration}),
      onSuccess: refresh,
    }),
  };
}
