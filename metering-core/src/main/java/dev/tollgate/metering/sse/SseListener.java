package dev.tollgate.metering.sse;

/** Receives complete SSE events from a {@link SseEventParser}, on the parser's thread. */
public interface SseListener {
    /**
     * One event with at least one {@code data:} line.
     *
     * @param data         the data payload ({@code data:} lines joined by {@code \n}); valid only during the call
     * @param off          payload offset in {@code data}
     * @param len          payload length
     * @param eventType    the {@code event:} field, or null
     * @param eventStart   body position of the event's first byte
     * @param eventEnd     body position one past the blank line that ended it
     * @param payloadStart body position of the payload's first byte when the event has one data line, else -1
     */
    void onEvent(byte[] data, int off, int len, String eventType, long eventStart, long eventEnd, long payloadStart);

    /** An event larger than the parser's limit was skipped. */
    default void onOversizedEvent(long eventStart, long eventEnd) {
    }
}
