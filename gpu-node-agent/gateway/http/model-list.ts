// GET /v1/models, in the shape the asking SDK expects: Anthropic's (it sends anthropic-version) or
// OpenAI's, which Codex and most other clients read.
export function modelList(models: string[], anthropic: boolean): unknown {
  if (anthropic) {
    const data = models.map((id) => ({
      type: 'model',
      id,
      display_name: id,
      created_at: '1970-01-01T00:00:00Z',
    }));
    return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
  }
  return {
    object: 'list',
    data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'autovibe' })),
  };
}
