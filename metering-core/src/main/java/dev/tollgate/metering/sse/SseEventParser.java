package dev.tollgate.metering.sse;

import dev.tollgate.metering.ByteSearch;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Incremental server-sent-events parser over byte slices. Events may be split anywhere: inside a field name,
 * inside a UTF-8 sequence, between CR and LF. Lines end with LF, CR or CRLF; {@code data:} lines are joined
 * with LF; comments ({@code :...}), {@code id:} and {@code retry:} are ignored; {@code event:} is reported.
 *
 * <p>Allocation: an event whose single data line lies within one slice is reported as a view of the caller's
 * array; otherwise bytes are copied into reusable internal buffers that grow to the largest event seen, never
 * beyond {@code maxEventBytes} (a larger event is skipped and reported as oversized).
 *
 * <p>Threading: not thread-safe; one instance per stream.
 */
public final class SseEventParser {
    public static final int DEFAULT_MAX_EVENT_BYTES = 1 << 20;
    private static final byte[] DATA = "data".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EVENT = "event".getBytes(StandardCharsets.US_ASCII);

    private final int maxEventBytes;
    private byte[] line = new byte[256];
    private int lineLen;
    private boolean lineCarried;
    private boolean lineOverflow;
    private byte[] data = new byte[1024];
    /** The event's data is {@code data[dataStart, dataLen)}: 0 unless the line buffer was taken as data. */
    private int dataStart;
    private int dataLen;
    private int dataLines;
    private String eventType;
    private boolean pendingCr;
    private boolean oversized;
    private long pos;
    private long eventStart = -1;
    private long payloadStart = -1;
    private long lineStart;
    // A single data line still in the caller's slice (not yet copied).
    private byte[] viewArr;
    private int viewOff;
    private int viewLen;

    public SseEventParser() {
        this(DEFAULT_MAX_EVENT_BYTES);
    }

    public SseEventParser(int maxEventBytes) {
        this.maxEventBytes = maxEventBytes;
    }

    /** Forgets everything; the next byte is body position 0. */
    public void reset() {
        lineLen = 0;
        lineCarried = false;
        lineOverflow = false;
        dataStart = 0;
        dataLen = 0;
        dataLines = 0;
        eventType = null;
        pendingCr = false;
        oversized = false;
        pos = 0;
        eventStart = -1;
        payloadStart = -1;
        viewArr = null;
    }

    /** Body position of the next byte to be fed. */
    public long position() {
        return pos;
    }

    public void feed(byte[] buf, int off, int len, SseListener listener) {
        int end = off + len;
        int i = off;
        if (pendingCr && i < end) {
            // A line ended with CR at the end of the last slice: an LF now belongs to the same terminator.
            pendingCr = false;
            if (buf[i] == '\n') {
                i++;
                pos++;
            }
            if (!lineOverflow) {
                onLine(line, 0, lineLen, pos, false, listener);
            }
            lineCarried = false;
            lineOverflow = false;
            lineLen = 0;
            if (eventStart < 0) {
                eventStart = pos;
            }
        }
        int segStart = i;
        while (i < end) {
            i = ByteSearch.lineEnd(buf, i, end);
            if (i >= end) {
                break;
            }
            byte b = buf[i];
            if (b == '\r' && i + 1 == end) {
                // Cannot tell CR from CRLF yet: keep the line until the next slice.
                if (!lineCarried) {
                    lineCarried = true;
                    lineLen = 0;
                    lineStart = pos;
                }
                appendLine(buf, segStart, i - segStart);
                pos += i - segStart + 1;
                pendingCr = true;
                segStart = end;
                break;
            }
            int termLen = b == '\r' && buf[i + 1] == '\n' ? 2 : 1;
            long lineEndPos = pos + (i - segStart);
            if (lineCarried) {
                appendLine(buf, segStart, i - segStart);
                if (!lineOverflow) {
                    onLine(line, 0, lineLen, lineEndPos + termLen, false, listener);
                }
                lineCarried = false;
                lineOverflow = false;
                lineLen = 0;
            } else {
                lineStart = pos;
                onLine(buf, segStart, i - segStart, lineEndPos + termLen, true, listener);
            }
            pos = lineEndPos + termLen;
            i += termLen;
            segStart = i;
            if (eventStart < 0) {
                eventStart = pos;
            }
        }
        if (segStart < end) {
            if (!lineCarried) {
                lineCarried = true;
                lineLen = 0;
                lineStart = pos;
            }
            appendLine(buf, segStart, end - segStart);
            pos += end - segStart;
        }
        // The caller's array is about to change: keep the pending single data line.
        if (viewArr != null) {
            copyView();
        }
    }

    private void onLine(byte[] b, int off, int len, long afterTerminator, boolean inCallerArray, SseListener listener) {
        if (eventStart < 0) {
            eventStart = lineStart;
        }
        if (len == 0) {
            dispatch(afterTerminator, listener);
            return;
        }
        if (oversized || b[off] == ':') {
            return;
        }
        int colon = -1;
        if (len >= 5 && b[off + 4] == ':' && b[off] == 'd' && b[off + 1] == 'a' && b[off + 2] == 't'
                && b[off + 3] == 'a') {
            // The line nearly every event is: "data:" found without a loop.
            colon = off + 4;
        }
        for (int k = off; colon < 0 && k < off + len; k++) {
            if (b[k] == ':') {
                colon = k;
                break;
            }
        }
        int nameEnd = colon < 0 ? off + len : colon;
        int valueStart = colon < 0 ? off + len : colon + 1;
        if (valueStart < off + len && b[valueStart] == ' ') {
            valueStart++;
        }
        int valueLen = off + len - valueStart;
        if (nameIs(b, off, nameEnd, DATA)) {
            payloadStart = dataLines == 0 ? lineStart + (valueStart - off) : -1;
            if (dataLines == 0 && inCallerArray && valueLen <= maxEventBytes) {
                viewArr = b;
                viewOff = valueStart;
                viewLen = valueLen;
            } else if (dataLines == 0 && !inCallerArray) {
                // The line buffer holds this line (it was carried across slices): take it as the event's data
                // instead of copying it, and the data buffer becomes the line buffer. No copy, no allocation.
                line = data;
                data = b;
                dataStart = valueStart;
                dataLen = valueStart + valueLen;
            } else {
                if (viewArr != null) {
                    copyView();
                }
                if (dataLines > 0) {
                    compactData();
                    appendData((byte) '\n');
                }
                appendData(b, valueStart, valueLen);
            }
            dataLines++;
        } else if (nameIs(b, off, nameEnd, EVENT)) {
            eventType = new String(b, valueStart, valueLen, StandardCharsets.UTF_8);
        }
    }

    private void dispatch(long eventEnd, SseListener listener) {
        long start = eventStart;
        if (oversized) {
            listener.onOversizedEvent(start, eventEnd);
        } else if (dataLines > 0) {
            if (viewArr != null) {
                listener.onEvent(viewArr, viewOff, viewLen, eventType, start, eventEnd, payloadStart);
            } else {
                listener.onEvent(data, dataStart, dataLen - dataStart, eventType, start, eventEnd,
                        dataLines == 1 ? payloadStart : -1);
            }
        }
        viewArr = null;
        dataStart = 0;
        dataLen = 0;
        dataLines = 0;
        eventType = null;
        oversized = false;
        payloadStart = -1;
        eventStart = -1;
    }

    private void copyView() {
        byte[] a = viewArr;
        viewArr = null;
        dataStart = 0;
        dataLen = 0;
        appendData(a, viewOff, viewLen);
    }

    /** Moves the data taken from the line buffer to the start of the data buffer, before more is appended. */
    private void compactData() {
        if (dataStart > 0) {
            System.arraycopy(data, dataStart, data, 0, dataLen - dataStart);
            dataLen -= dataStart;
            dataStart = 0;
        }
    }

    private static boolean nameIs(byte[] b, int from, int to, byte[] name) {
        if (to - from != name.length) {
            return false;
        }
        for (int k = 0; k < name.length; k++) {
            if (b[from + k] != name[k]) {
                return false;
            }
        }
        return true;
    }

    private void appendLine(byte[] b, int off, int len) {
        if (lineOverflow) {
            return;
        }
        if (lineLen + len > maxEventBytes) {
            markOversized();
            lineOverflow = true;
            return;
        }
        if (lineLen + len > line.length) {
            line = Arrays.copyOf(line, Math.min(maxEventBytes, Math.max(line.length * 2, lineLen + len)));
        }
        System.arraycopy(b, off, line, lineLen, len);
        lineLen += len;
    }

    private void appendData(byte v) {
        if (dataLen + 1 > maxEventBytes) {
            markOversized();
            return;
        }
        if (dataLen == data.length) {
            data = Arrays.copyOf(data, Math.min(maxEventBytes, data.length * 2));
        }
        data[dataLen++] = v;
    }

    private void appendData(byte[] b, int off, int len) {
        if (oversized) {
            return;
        }
        if (dataLen + len > maxEventBytes) {
            markOversized();
            return;
        }
        if (dataLen + len > data.length) {
            data = Arrays.copyOf(data, Math.min(maxEventBytes, Math.max(data.length * 2, dataLen + len)));
        }
        System.arraycopy(b, off, data, dataLen, len);
        dataLen += len;
    }

    private void markOversized() {
        oversized = true;
        viewArr = null;
        dataStart = 0;
        dataLen = 0;
        lineLen = 0;
    }
}
