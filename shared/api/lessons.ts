/** GET /api/lessons: the lessons (shared/lessons, the same objects the UI runs) and their glossary. */
export type { LessonsResponse as LessonsAnswer } from '../lessons/types.ts';
