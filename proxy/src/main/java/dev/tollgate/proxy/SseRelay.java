package dev.tollgate.proxy;

import dev.tollgate.metering.StreamMeter;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.Arrays;

/**
 * Relays one metered SSE body to the client event by event, as {@link StreamMeter} decides for each event
 * (forward, drop the usage-only chunk, strip the injected {@code usage} member), and keeps everything from the
 * terminating {@code [DONE]} on as a tail that is written only once the usage record is journaled.
 *
 * <p>Memory: it holds only the undecided bytes of the one event in progress, in one cumulation buffer whose
 * read bytes are discarded, never more than {@code maxEventBytes}; the tail is bounded the same way (bytes an
 * upstream sends after {@code [DONE]} beyond that bound are dropped). An event that grows past that bound ends
 * the filtering: what is held and the rest of the stream are forwarded unchanged (the meter still reads it, and
 * the terminating event is still held for the journal).
 * In the common case (whole events per read, nothing to strip) the incoming buffer itself is forwarded; when
 * one read ends inside an event, one retained slice of it is forwarded and the partial event is copied into the
 * cumulation buffer; when a read needs several pieces (strip, drop) they are copied into one buffer, so the
 * client gets one chunk per upstream read either way.
 *
 * <p>Ownership: {@link #onData} takes ownership of its buffer; every buffer given to {@link Output#forward} is
 * owned by the output; {@link #release} frees whatever is still held and is idempotent.
 *
 * <p>Threading: not thread-safe; confined to the exchange's event loop. {@link #heldBytes()} may be read by any
 * thread (a gauge).
 */
final class SseRelay implements StreamMeter.EventSink {
    /** Where forwarded bytes go (the client channel). */
    @FunctionalInterface
    interface Output {
        /** Takes ownership of {@code buf}, which is readable. */
        void forward(ByteBuf buf);
    }

    private static final int KEEP_CUMULATION_CAPACITY = 64 * 1024;

    private final StreamMeter meter;
    private final ByteBufAllocator alloc;
    private final int maxEventBytes;
    private final Output output;

    /** Body position of the next incoming byte. */
    private long bodyPos;
    /** Bytes before this position were forwarded, dropped or moved to the tail. */
    private long emitted;
    /** Bytes in [emitted, decided) are to be forwarded; everything past decided awaits its event's end. */
    private long decided;
    /** Undecided bytes: its first readable byte is at body position {@code emitted}. */
    private ByteBuf cumulation;
    /** Pieces to write for the current read, as body positions [start, end) pairs. */
    private long[] pieces = new long[16];
    private int pieceCount;
    /** Index of the first piece that belongs to the tail (from [DONE] on). */
    private int tailFromPiece = Integer.MAX_VALUE;
    private boolean doneSeen;
    private ByteBuf tail;
    private boolean passThrough;
    /** In pass-through: body position where the tail starts within the current read, or -1. */
    private long doneFrom = -1;
    private boolean released;
    private volatile long held;

    SseRelay(StreamMeter meter, ByteBufAllocator alloc, int maxEventBytes, Output output) {
        this.meter = meter;
        this.alloc = alloc;
        this.maxEventBytes = maxEventBytes;
        this.output = output;
    }

    /** Relays the readable bytes of {@code data} (owned by this call), received at {@code nanoTime}. */
    void onData(ByteBuf data, long nanoTime) {
        int len = data.readableBytes();
        if (released || len == 0) {
            data.release();
            return;
        }
        if (passThrough) {
            passThrough(data, len, nanoTime);
            return;
        }
        MeterTap.feed(meter, data, nanoTime, this);
        bodyPos += len;
        addPiece(emitted, decided);
        emitted = decided;

        ByteBuf window;
        long windowStart;
        if (cumulation != null && cumulation.isReadable()) {
            cumulation.writeBytes(data);
            data.release();
            window = cumulation;
        } else {
            window = data;
        }
        windowStart = bodyPos - window.readableBytes();
        try {
            copyTailPieces(window, windowStart);
            long leftover = bodyPos - emitted;
            window = forwardPieces(window, windowStart, leftover == 0);
            if (leftover > maxEventBytes) {
                stopFiltering(window, windowStart);
            } else {
                keepLeftover(window, windowStart, (int) leftover);
            }
        } finally {
            pieceCount = 0;
            if (doneSeen) {
                tailFromPiece = 0;
            }
        }
        updateHeld();
    }

    /** Relays a read unchanged, except that the terminating event and what follows still wait for the journal. */
    private void passThrough(ByteBuf data, int len, long nanoTime) {
        long readStart = bodyPos;
        doneFrom = -1;
        MeterTap.feed(meter, data, nanoTime, this);
        bodyPos += len;
        emitted = bodyPos;
        decided = bodyPos;
        if (doneFrom < 0) {
            deliver(data);
            return;
        }
        // [DONE] completed in this read: what precedes it goes now (its first bytes may have gone already).
        int before = (int) (doneFrom - readStart);
        if (before > 0) {
            output.forward(data.retainedSlice(data.readerIndex(), before));
        }
        data.skipBytes(before);
        deliver(data);
    }

    /** The body ended: bytes that belong to no complete event are forwarded (or join the tail). */
    void onEnd() {
        if (released || cumulation == null) {
            return;
        }
        ByteBuf rest = cumulation;
        cumulation = null;
        emitted = bodyPos;
        decided = bodyPos;
        if (rest.isReadable()) {
            deliver(rest);
        } else {
            rest.release();
        }
        updateHeld();
    }

    /** Whether {@code [DONE]} (or the Responses API's end event) was seen: the tail starts there. */
    boolean doneSeen() {
        return doneSeen;
    }

    /** Whether an oversized event ended the filtering for the rest of the stream. */
    boolean passThrough() {
        return passThrough;
    }

    /** The bytes held for after the journal, or null; ownership passes to the caller. */
    ByteBuf takeTail() {
        ByteBuf t = tail;
        tail = null;
        updateHeld();
        return t;
    }

    /** Bytes this relay holds (event in progress plus tail). */
    long heldBytes() {
        return held;
    }

    /** Frees everything held; further input is released on arrival. */
    void release() {
        released = true;
        if (cumulation != null) {
            cumulation.release();
            cumulation = null;
        }
        if (tail != null) {
            tail.release();
            tail = null;
        }
        held = 0;
    }

    @Override
    public void onEvent(long eventStart, long eventEnd, StreamMeter.EventAction action, long stripStart,
                        long stripEnd) {
        if (passThrough) {
            // Nothing is filtered any more; only the start of the tail is still looked for.
            if (!doneSeen && meter.sawDone()) {
                doneSeen = true;
                doneFrom = Math.max(eventStart, bodyPos);
            }
            return;
        }
        if (!doneSeen && meter.sawDone()) {
            // Bytes before the terminating event (comments, blank lines) still go to the client now.
            addPiece(emitted, eventStart);
            emitted = eventStart;
            decided = eventStart;
            doneSeen = true;
            tailFromPiece = pieceCount;
        }
        switch (action) {
            case FORWARD -> decided = eventEnd;
            case DROP -> {
                addPiece(emitted, eventStart);
                emitted = eventEnd;
                decided = eventEnd;
            }
            case STRIP -> {
                addPiece(emitted, stripStart);
                emitted = stripEnd;
                decided = eventEnd;
            }
            default -> throw new IllegalStateException("unknown action " + action);
        }
    }

    private void addPiece(long start, long end) {
        if (end <= start) {
            return;
        }
        if (pieceCount > 0 && pieceCount != tailFromPiece && pieces[2 * pieceCount - 1] == start) {
            pieces[2 * pieceCount - 1] = end;
            return;
        }
        if (2 * pieceCount + 2 > pieces.length) {
            pieces = Arrays.copyOf(pieces, pieces.length * 2);
        }
        pieces[2 * pieceCount] = start;
        pieces[2 * pieceCount + 1] = end;
        pieceCount++;
    }

    private void copyTailPieces(ByteBuf window, long windowStart) {
        for (int i = Math.max(0, Math.min(tailFromPiece, pieceCount)); i < pieceCount; i++) {
            long s = pieces[2 * i];
            appendTail(window, window.readerIndex() + (int) (s - windowStart), (int) (pieces[2 * i + 1] - s));
        }
    }

    /**
     * Forwards the client pieces of this read. Returns the window, or null when the window itself was handed
     * to the output.
     */
    private ByteBuf forwardPieces(ByteBuf window, long windowStart, boolean windowFullyDecided) {
        int count = Math.min(tailFromPiece, pieceCount);
        if (count == 0) {
            return window;
        }
        int base = window.readerIndex();
        if (count == 1) {
            long s = pieces[0];
            int n = (int) (pieces[1] - s);
            if (windowFullyDecided && s == windowStart && n == window.readableBytes()) {
                if (window == cumulation) {
                    cumulation = null;
                }
                output.forward(window);
                return null;
            }
            output.forward(window.retainedSlice(base + (int) (s - windowStart), n));
            return window;
        }
        int total = 0;
        for (int i = 0; i < count; i++) {
            total += (int) (pieces[2 * i + 1] - pieces[2 * i]);
        }
        ByteBuf joined = alloc.buffer(total);
        for (int i = 0; i < count; i++) {
            long s = pieces[2 * i];
            joined.writeBytes(window, base + (int) (s - windowStart), (int) (pieces[2 * i + 1] - s));
        }
        output.forward(joined);
        return window;
    }

    /** Keeps the undecided bytes [emitted, bodyPos) in the cumulation buffer and frees the rest of the window. */
    private void keepLeftover(ByteBuf window, long windowStart, int leftover) {
        if (window == null) {
            return;
        }
        int from = window.readerIndex() + (int) (emitted - windowStart);
        if (window != cumulation) {
            if (leftover > 0) {
                if (cumulation == null) {
                    cumulation = alloc.buffer(Math.max(leftover, 1024));
                }
                cumulation.writeBytes(window, from, leftover);
            }
            window.release();
            return;
        }
        if (cumulation.refCnt() == 1 && (leftover > 0 || cumulation.capacity() <= KEEP_CUMULATION_CAPACITY)) {
            // Nothing else shares the buffer: discard what was read and keep the partial event.
            cumulation.readerIndex(from);
            cumulation.discardSomeReadBytes();
            return;
        }
        // Slices of it are still on their way to the client: copy the partial event into a new buffer.
        ByteBuf old = cumulation;
        cumulation = leftover > 0 ? alloc.buffer(Math.max(leftover, 1024)).writeBytes(old, from, leftover) : null;
        old.release();
    }

    /** The event in progress outgrew the bound: forward what is held and relay the rest unchanged. */
    private void stopFiltering(ByteBuf window, long windowStart) {
        passThrough = true;
        int from = window.readerIndex() + (int) (emitted - windowStart);
        ByteBuf rest = window.retainedSlice(from, (int) (bodyPos - emitted));
        if (window == cumulation) {
            cumulation = null;
        }
        window.release();
        emitted = bodyPos;
        decided = bodyPos;
        deliver(rest);
    }

    private void deliver(ByteBuf buf) {
        if (!doneSeen) {
            output.forward(buf);
            return;
        }
        appendTail(buf, buf.readerIndex(), buf.readableBytes());
        buf.release();
        updateHeld();
    }

    /**
     * Keeps bytes from the terminating event on until the journal has the record, up to {@code maxEventBytes}:
     * an upstream that keeps sending after {@code [DONE]} has its excess dropped rather than held.
     */
    private void appendTail(ByteBuf src, int index, int len) {
        int held = tail == null ? 0 : tail.readableBytes();
        int n = Math.min(len, maxEventBytes - held);
        if (n <= 0) {
            return;
        }
        if (tail == null) {
            tail = alloc.buffer(Math.max(n, 64));
        }
        tail.writeBytes(src, index, n);
    }

    private void updateHeld() {
        long h = (cumulation == null ? 0 : cumulation.readableBytes()) + (tail == null ? 0 : tail.readableBytes());
        if (h != held) {
            held = h;
        }
    }
}
