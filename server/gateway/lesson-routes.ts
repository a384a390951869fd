/** GET /api/lessons: the lessons (shared/lessons, the same objects the UI runs) and their glossary. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { lessonsResponse } from '../../shared/lessons/index.ts';
import type { LessonsAnswer } from '../../shared/api/lessons.ts';
import { HttpError, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';

export function lessonRoutes(): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname !== '/api/lessons') return false;
    if (req.method !== 'GET') throw new HttpError(405, 'GET only');
    sendJson<LessonsAnswer>(res, 200, lessonsResponse());
    return true;
  };
}
