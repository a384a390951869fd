/**
 * Every lesson, in the order the lesson list shows them. The gateway serves this list at GET /api/lessons and the UI
 * runs the same objects, so the two cannot disagree.
 */
import { CACHE } from './cache.ts';
import { ENCAPSULATION_COST } from './encapsulation-cost.ts';
import { GLOSSARY } from './glossary.ts';
import { LOGIN_CHAP } from './login-chap.ts';
import { SEQUENCE_NUMBERS } from './sequence-numbers.ts';
import { START_HERE } from './start-here.ts';
import type { Lesson, LessonsResponse } from './types.ts';
import { WRITE_R2T } from './write-r2t.ts';

export type { Lesson, LessonStep } from './types.ts';
export { GLOSSARY };

export const LESSONS: readonly Lesson[] = [START_HERE, LOGIN_CHAP, WRITE_R2T, CACHE, ENCAPSULATION_COST, SEQUENCE_NUMBERS];

export function lessonById(id: string): Lesson | undefined {
  return LESSONS.find((l) => l.id === id);
}

/** What GET /api/lessons answers. */
export function lessonsResponse(): LessonsResponse {
  return { lessons: LESSONS, glossary: GLOSSARY };
}
