import type { CatalogItem } from '../store/types.js';
import type { Interaction } from '../model/types.js';
import { pick, seededRandom } from '../lib/random.js';

/** The embedded demo shop: the same few hundred items and shoppers on every machine. */
const CATEGORIES: ReadonlyArray<{ name: string; nouns: readonly string[]; priceRange: [number, number] }> = [
  { name: 'shoes', nouns: ['Runner', 'Loafer', 'Boot', 'Sneaker', 'Sandal'], priceRange: [40, 180] },
  { name: 'jackets', nouns: ['Parka', 'Windbreaker', 'Blazer', 'Bomber', 'Fleece'], priceRange: [60, 300] },
  { name: 'bags', nouns: ['Backpack', 'Tote', 'Duffel', 'Satchel', 'Sling'], priceRange: [30, 220] },
  { name: 'watches', nouns: ['Chronograph', 'Diver', 'Field Watch', 'Smartwatch', 'Dress Watch'], priceRange: [80, 600] },
  { name: 'books', nouns: ['Novel', 'Cookbook', 'Atlas', 'Memoir', 'Field Guide'], priceRange: [8, 45] },
  { name: 'coffee', nouns: ['Espresso Blend', 'Grinder', 'Pour-Over Kit', 'Moka Pot', 'Single Origin'], priceRange: [10, 250] },
  { name: 'headphones', nouns: ['Earbuds', 'Over-Ear', 'Studio Monitor', 'Sport Buds', 'DJ Headset'], priceRange: [25, 400] },
  { name: 'plants', nouns: ['Monstera', 'Fern', 'Cactus', 'Bonsai', 'Orchid'], priceRange: [12, 90] },
];
const ADJECTIVES = ['Classic', 'Urban', 'Alpine', 'Coastal', 'Midnight', 'Solar', 'Nordic', 'Vintage'];
const ITEMS_PER_CATEGORY = 40;
const SEED = 20261125;

export const DEMO_CATEGORIES: readonly string[] = CATEGORIES.map((c) => c.name);

export function demoCatalog(): CatalogItem[] {
  const random = seededRandom(SEED);
  const items: CatalogItem[] = [];
  for (const category of CATEGORIES) {
    for (let i = 0; i < ITEMS_PER_CATEGORY; i++) {
      const [low, high] = category.priceRange;
      items.push({
        itemId: `${category.name}-${String(i + 1).padStart(3, '0')}`,
        title: `${ADJECTIVES[i % ADJECTIVES.length]} ${category.nouns[Math.floor(i / ADJECTIVES.length) % category.nouns.length]}`,
        category: category.name,
        price: Math.round((low + random() * (high - low)) * 100) / 100,
        inStock: random() > 0.05,
      });
    }
  }
  return items;
}

/**
 * Simulated shoppers: each prefers one or two categories, enters at a popular item and mostly
 * browses related items (near neighbours within a category), sometimes adding to cart or buying.
 * Gives the trainer real structure to learn: co-visitation within categories and a skewed
 * popularity.
 */
export function demoInteractions(users = 600): Interaction[] {
  const random = seededRandom(SEED + 1);
  const start = Date.UTC(2026, 0, 1);
  const interactions: Interaction[] = [];
  // Zipf-like entry popularity within each category.
  const entryWeights = Array.from({ length: ITEMS_PER_CATEGORY }, (_, i) => 1 / (i + 1));
  const entryTotal = entryWeights.reduce((a, b) => a + b, 0);
  const popularIndex = (): number => {
    let r = random() * entryTotal;
    for (let i = 0; i < entryWeights.length; i++) {
      r -= entryWeights[i];
      if (r <= 0) return i;
    }
    return entryWeights.length - 1;
  };
  const itemId = (category: number, index: number): string =>
    `${CATEGORIES[category].name}-${String(index + 1).padStart(3, '0')}`;

  for (let u = 0; u < users; u++) {
    const userId = `demo-user-${u + 1}`;
    const favourites = [Math.floor(random() * CATEGORIES.length)];
    if (random() < 0.5) favourites.push(Math.floor(random() * CATEGORIES.length));
    let time = start + Math.floor(random() * 30 * 24 * 3600 * 1000);
    const sessions = 1 + Math.floor(random() * 3);
    for (let s = 0; s < sessions; s++) {
      let category = pick(random, favourites);
      let index = popularIndex();
      const length = 4 + Math.floor(random() * 10);
      for (let e = 0; e < length; e++) {
        const roll = random();
        const eventType = roll < 0.03 ? 'purchase' : roll < 0.13 ? 'add-to-cart' : 'view';
        interactions.push({ userId, itemId: itemId(category, index), timestamp: time, eventType });
        time += 5_000 + Math.floor(random() * 60_000);
        const move = random();
        if (move < 0.75) {
          const step = 1 + Math.floor(random() * 3);
          index = (index + (random() < 0.5 ? -step : step) + ITEMS_PER_CATEGORY) % ITEMS_PER_CATEGORY;
        } else if (move < 0.9) {
          category = pick(random, favourites);
          index = popularIndex();
        } else {
          category = Math.floor(random() * CATEGORIES.length);
          index = popularIndex();
        }
      }
      time += 3600_000 * (1 + Math.floor(random() * 48));
    }
  }
  return interactions;
}
