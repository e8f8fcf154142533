/** CQRS read models: projections of events into a samsa store, SQLite or PostgreSQL. */
export { defineProjection } from './projection.ts';
export type { DocumentProjectionDefinition, ErrorPolicy, Projection, ProjectionSource, SqlProjectionDefinition } from './projection.ts';
export { runProjection, openView, dropProjection } from './runProjection.ts';
export { storeTarget, sqliteTarget, postgresTarget } from './runner.ts';
export type { BatchFaults, DeadLetter, ProjectionDescription, ProjectionErrorEvent, ProjectionRunner, ProjectionStatus, ProjectionTarget, ProjectionView, RunProjectionOptions, ViewEntry } from './runner.ts';
export type { SqlDialect, SqlHandle, SqlRow, SqlValue } from './sql.ts';
export type { SqliteOptions } from './sqlite.ts';
export type { PostgresOptions } from './postgres.ts';
