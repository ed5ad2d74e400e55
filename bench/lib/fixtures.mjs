// Realistic, deterministic Scale data for the benchmark: image-annotation
// tasks of about 3 KB each (params, instruction, metadata and a completed
// response with boxes), and a ~50 KB task callback body.

const LABELS = ['car', 'pedestrian', 'cyclist', 'truck', 'traffic_light', 'stop_sign', 'bus', 'motorcycle'];
const OCCLUSION = ['0%', '25%', '50%', '75%+'];

/** A small deterministic PRNG so every run seeds the same data. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

const hex = (r, n) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
const uuid = (r) => `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-a${hex(r, 3)}-${hex(r, 12)}`;

export const PROJECT = 'bench_av_perception';
export const BATCH = 'bench_av_batch_2026_11';

/** The create body (as `/__sim/seed` takes it) of task number `i`. */
export function taskBody(i) {
  const r = rng(1000 + i);
  return {
    type: 'imageannotation',
    project: PROJECT,
    batch: BATCH,
    instruction:
      'Draw a tight box around every vehicle, pedestrian, cyclist, traffic light and stop sign that is at least 5 px tall. ' +
      'Mark occlusion and truncation. Skip reflections and objects on billboards.',
    attachment: `https://assets.example-av.com/drives/2026-11-0${(i % 9) + 1}/cam_front/frame_${String(10000 + i * 7).padStart(6, '0')}.jpg`,
    attachment_type: 'image',
    unique_id: `bench-frame-${String(i).padStart(5, '0')}`,
    tags: ['split:train', `drive:${hex(r, 6)}`, 'camera:front'],
    geometries: {
      box: {
        objects_to_annotate: LABELS,
        min_height: 5,
        min_width: 5,
        can_rotate: false,
        integer_pixels: true,
      },
    },
    annotation_attributes: {
      occlusion: { description: 'How much of the object is hidden?', choices: OCCLUSION },
      truncation: { description: 'Is the object cut off by the image border?', choices: ['no', 'yes'] },
      moving: { type: 'category', description: 'Is the object moving?', choices: ['yes', 'no', 'unknown'], conditions: { label_condition: { label: ['car', 'truck', 'bus', 'motorcycle', 'cyclist'] } } },
    },
    padding: 8,
    metadata: {
      drive_id: `drv_${hex(r, 12)}`,
      frame_index: 10000 + i * 7,
      captured_at: `2026-11-0${(i % 9) + 1}T1${i % 10}:2${i % 6}:0${i % 10}.${String(i * 37 % 1000).padStart(3, '0')}Z`,
      vehicle: `av-${(i % 12) + 1}`,
      sensor: { camera: 'cam_front', resolution: [1920, 1208], exposure_ms: 8.3, gain: 1.7 },
      location: { city: ['sf', 'pittsburgh', 'austin'][i % 3], lat: 37.77 + r() / 10, lon: -122.41 + r() / 10 },
      weather: ['clear', 'overcast', 'rain'][i % 3],
      pipeline_version: '4.12.0',
      source: 'fleet-upload',
    },
  };
}

/** A completed response with `n` boxes (about 150 bytes each). */
export function responseFor(i, n = 9) {
  const r = rng(5000 + i);
  return {
    annotations: Array.from({ length: n }, () => ({
      uuid: uuid(r),
      label: LABELS[Math.floor(r() * LABELS.length)],
      left: Math.floor(r() * 1800),
      top: Math.floor(r() * 1100),
      width: 5 + Math.floor(r() * 300),
      height: 5 + Math.floor(r() * 200),
      attributes: { occlusion: OCCLUSION[Math.floor(r() * 4)], truncation: r() < 0.2 ? 'yes' : 'no' },
    })),
    global_attributes: { scene: 'urban', time_of_day: 'day' },
  };
}

/** The webhook body template: a completed task callback of about `bytes`, split around the task id. */
export function webhookTemplate(bytes = 50 * 1024) {
  const marker = '__BENCH_TASK_ID__';
  let boxes = 20;
  let text;
  for (;;) {
    const task = { ...taskBody(7), task_id: marker, status: 'completed', created_at: '2026-11-03T12:00:00.000Z', completed_at: '2026-11-03T12:30:00.000Z', response: responseFor(7, boxes) };
    text = JSON.stringify({ task_id: marker, status: 'completed', response: task.response, task });
    if (text.length >= bytes) break;
    boxes += 10;
  }
  return text.split(marker);
}
