import t from 'tap';
import { describeSegments, kMeans, nearest, toVector } from '../../src/model/segments.js';

const dims = ['bags', 'books', 'shoes'];

t.test('affinities become unit vectors over the known dimensions', async (t) => {
  t.strictSame(toVector([['shoes', 3], ['bags', 4], ['unknown', 9]], dims), [0.8, 0, 0.6]);
  t.strictSame(toVector([], dims), [0, 0, 0]);
});

t.test('k-means separates clear groups and labels them by their heaviest dimensions', async (t) => {
  const shoeFans = [toVector([['shoes', 1]], dims), toVector([['shoes', 0.9], ['bags', 0.1]], dims), toVector([['shoes', 1], ['books', 0.05]], dims)];
  const readers = [toVector([['books', 1]], dims), toVector([['books', 1], ['bags', 0.1]], dims)];
  const model = kMeans([...shoeFans, ...readers], 2, dims, 7);
  t.strictSame([...model.sizes].sort(), [2, 3]);
  const segments = describeSegments(model, 1);
  t.strictSame(segments.map((s) => s.top[0][0]).sort(), ['books', 'shoes']);
  const shoeSegment = segments.find((s) => s.top[0][0] === 'shoes');
  t.equal(nearest(model.centroids, toVector([['shoes', 5]], dims)).index, shoeSegment?.segmentId);
  t.strictSame(kMeans([...shoeFans, ...readers], 2, dims, 7), model, 'deterministic for a seed');
});

t.test('fewer users than k gives one segment per distinct user', async (t) => {
  const model = kMeans([toVector([['bags', 1]], dims)], 4, dims);
  t.strictSame(model.sizes, [1]);
  t.strictSame(kMeans([], 3, dims), { dimensions: dims, centroids: [], sizes: [] });
});
