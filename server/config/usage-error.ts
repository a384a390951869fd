/** A configuration the lab cannot run: bad flags, a bad config document or API value. The CLI prints it and exits 2. */
export class UsageError extends Error {}
