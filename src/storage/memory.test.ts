import { MemoryStorage } from './memory.ts';
import { describeStorageContract } from './testing.ts';

describeStorageContract('memory', async () => {
  const s = new MemoryStorage();
  return { appendable: s, queryable: () => s, seal: async () => {}, close: () => s.close() };
});
