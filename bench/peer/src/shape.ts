// List shaping, the same rules as the Rust worker's `task_list_text` and
// `fit_items` (src/tools/tasks.rs, src/tools/shape.rs), so both sides return the
// same result for the same Scale answer.

/** Text above this many bytes is trimmed (hosted clients cap tool output). */
export const MAX_TEXT_BYTES = 200 * 1024;

const utf8 = new TextEncoder();
const byteLength = (v: unknown) => utf8.encode(JSON.stringify(v)).length;

type Obj = Record<string, unknown>;

/** Fits a list result into MAX_TEXT_BYTES: first drops the heavy fields of each item, then all but the identifying ones. */
export function fitList(v: Obj, listKey: string, idFields: string[], howToGet: string): Obj {
  if (byteLength(v) <= MAX_TEXT_BYTES) return v;
  const heavy = ['response', 'params'];
  const items = Array.isArray(v[listKey]) ? (v[listKey] as unknown[]) : [];
  for (const it of items) {
    if (it && typeof it === 'object' && !Array.isArray(it)) for (const h of heavy) delete (it as Obj)[h];
  }
  let dropped: string[] = heavy;
  if (byteLength(v) > MAX_TEXT_BYTES) {
    for (const it of items) {
      if (it && typeof it === 'object' && !Array.isArray(it)) {
        for (const k of Object.keys(it)) if (!idFields.includes(k)) delete (it as Obj)[k];
      }
    }
    dropped = ['all fields but the identifying ones'];
  }
  v.truncated = {
    dropped,
    reason: `the full result is larger than ${MAX_TEXT_BYTES / 1024} KB`,
    how_to_get_full_items: howToGet,
  };
  return v;
}

/** Shapes Scale's `/tasks` answer into `{tasks, total, has_more, next_token}`. */
export function shapeTaskList(raw: unknown): Obj {
  const v = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Obj;
  const tasks = Array.isArray(v.docs) ? v.docs : [];
  const next = typeof v.next_token === 'string' && v.next_token !== '' ? v.next_token : null;
  const hasMore = typeof v.has_more === 'boolean' ? v.has_more : next !== null;
  const total = Number.isInteger(v.total) ? v.total : null;
  return fitList(
    { tasks, total, has_more: hasMore, next_token: next },
    'tasks',
    ['task_id', 'status', 'type', 'project', 'batch', 'created_at', 'completed_at', 'unique_id', 'metadata', 'tags'],
    'call get_task with an item\'s task_id, or ask for fewer tasks with a smaller `limit` or `limited_response`',
  );
}
