/**
 * Every group of routes, registered in this order. A module's routes live in their own file
 * under src/api and are added here with one line.
 */
import type { Hono } from 'hono';
import type { ApiDeps } from './deps.ts';
import { registerCoreRoutes } from './core-routes.ts';
import { registerAlertmanagerV2Routes } from './alertmanager-v2.ts';
import { registerAlertHistoryRoutes } from './alert-history.ts';
import { registerRulesRoutes } from './rules-routes.ts';
import { registerPromqlRoutes } from './promql-routes.ts';
import { registerScrapeRoutes } from './scrape-routes.ts';
import { registerTsdbRoutes } from './tsdb-routes.ts';

export type RouteRegistrar = (app: Hono, deps: ApiDeps) => void;

export const ROUTE_REGISTRARS: readonly RouteRegistrar[] = [
  registerPromqlRoutes,
  registerScrapeRoutes,
  registerTsdbRoutes,
  registerRulesRoutes,
  registerAlertmanagerV2Routes,
  registerAlertHistoryRoutes,
  registerCoreRoutes,
];
