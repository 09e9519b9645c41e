/**
 * Protocol limits, defined once. Each is a number some BOLT fixes; the code that enforces it cites it from here.
 */

/** BOLT 8: a Lightning message (type included) is at most 65,535 bytes; BOLT 1: at least the 2 type bytes. */
export const MAX_MESSAGE_SIZE = 65_535

/** BOLT 1: the two type bytes every message starts with. */
export const TYPE_SIZE = 2
