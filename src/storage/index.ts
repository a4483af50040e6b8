/** The storage contract (after Prometheus' `storage` package) and implementations-neutral helpers. */
export { ValueType } from './interfaces.ts';
export type { SeriesRef, SampleIterator, SampleBuffer, Series, SeriesSet, SelectHints, LabelHints, Querier, Queryable, Appender, Appendable, Storage } from './interfaces.ts';
export { StorageError, isSampleRejection } from './errors.ts';
export type { StorageErrorCode } from './errors.ts';
export { ArraySampleIterator, ArraySeries, ChainSampleIterator, mergeSeriesSets, collectSamples, readSeriesRange, growSampleBuffer, EMPTY_SERIES_SET } from './series.ts';
export { MemoryStorage } from './memory.ts';
