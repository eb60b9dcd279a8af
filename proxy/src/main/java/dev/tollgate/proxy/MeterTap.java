package dev.tollgate.proxy;

import dev.tollgate.metering.StreamMeter;
import io.netty.buffer.ByteBuf;
import io.netty.util.concurrent.FastThreadLocal;

/**
 * Feeds a {@link ByteBuf}'s readable bytes to a {@link StreamMeter} without moving its reader index: heap
 * buffers directly, direct buffers through one reusable scratch array per event loop (no allocation).
 *
 * <p>Threading: uses a thread-local scratch array; call on an event loop.
 */
final class MeterTap {
    private static final int SCRATCH = 16 * 1024;
    private static final FastThreadLocal<byte[]> SCRATCH_ARRAY = new FastThreadLocal<>() {
        @Override
        protected byte[] initialValue() {
            return new byte[SCRATCH];
        }
    };

    private MeterTap() {
    }

    static void feed(StreamMeter meter, ByteBuf buf, long nanoTime, StreamMeter.EventSink sink) {
        int len = buf.readableBytes();
        if (len == 0) {
            return;
        }
        if (buf.hasArray()) {
            meter.onBody(buf.array(), buf.arrayOffset() + buf.readerIndex(), len, nanoTime, sink);
            return;
        }
        byte[] scratch = SCRATCH_ARRAY.get();
        int index = buf.readerIndex();
        int end = index + len;
        while (index < end) {
            int n = Math.min(scratch.length, end - index);
            buf.getBytes(index, scratch, 0, n);
            meter.onBody(scratch, 0, n, nanoTime, sink);
            index += n;
        }
    }
}
