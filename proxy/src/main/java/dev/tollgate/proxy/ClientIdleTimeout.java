package dev.tollgate.proxy;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPromise;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The client connection's idle timeout: fires {@link IdleStateEvent#ALL_IDLE_STATE_EVENT} down the pipeline when
 * nothing was read from the client and nothing written to it moved for the timeout, and again every timeout while
 * that lasts (the last handler closes an idle connection, or cuts an exchange whose client stopped reading).
 *
 * <p>Unlike Netty's {@code IdleStateHandler} with an all-idle time, it does not turn each write's (void) promise
 * into a real one with a listener to learn when the write completed: reads and write calls only note the time on
 * the loop's ticker, and one timer per connection, re-armed for what remains, looks at the outbound buffer when it
 * fires. A write that still sits in the buffer is activity only while the buffer moves (the bytes pending, the
 * message being written or its progress changed since the timer last looked); a client that stops reading
 * therefore goes idle one timeout after the timer first saw its output stuck, at most two timeouts after its last
 * read or completed write.
 *
 * <p>Threading: one per connection, event loop only.
 */
final class ClientIdleTimeout extends ChannelDuplexHandler {
    private final long timeoutNanos;
    private ChannelHandlerContext ctx;
    private ScheduledFuture<?> timer;
    private long lastReadNanos;
    private long lastWriteNanos;
    /** When the timer last saw pending output move; the clock of a connection whose writes are stuck. */
    private long lastOutputMoveNanos;
    /** Identity hash of the message being written when the timer last looked (the message itself is not kept). */
    private int seenMessage;
    private long seenProgress;
    private long seenPendingBytes;
    private boolean closed;

    ClientIdleTimeout(long timeoutMillis) {
        this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        if (ctx.channel().isActive() && ctx.channel().isRegistered()) {
            start();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        start();
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        lastReadNanos = now();
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        lastWriteNanos = now();
        ctx.write(msg, promise);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        stop();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        stop();
    }

    private void start() {
        if (timer != null || closed) {
            return;
        }
        long t = now();
        lastReadNanos = t;
        lastWriteNanos = t;
        lastOutputMoveNanos = t;
        timer = ctx.executor().schedule(this::check, timeoutNanos, TimeUnit.NANOSECONDS);
    }

    private void stop() {
        closed = true;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    private void check() {
        timer = null;
        if (closed || !ctx.channel().isOpen()) {
            return;
        }
        long t = now();
        long idle = t - lastActivity(t);
        if (idle >= timeoutNanos) {
            timer = ctx.executor().schedule(this::check, timeoutNanos, TimeUnit.NANOSECONDS);
            ctx.fireUserEventTriggered(IdleStateEvent.ALL_IDLE_STATE_EVENT);
        } else {
            timer = ctx.executor().schedule(this::check, timeoutNanos - idle, TimeUnit.NANOSECONDS);
        }
    }

    /**
     * The last read, or the last write if nothing written is still pending; with output pending, the last time the
     * timer saw it move (now, if it moved since the previous look).
     */
    private long lastActivity(long t) {
        ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
        long write;
        if (out == null || out.totalPendingWriteBytes() == 0) {
            seenMessage = 0;
            seenPendingBytes = 0;
            seenProgress = 0;
            write = lastWriteNanos;
            lastOutputMoveNanos = t;
        } else {
            int message = System.identityHashCode(out.current());
            long progress = out.currentProgress();
            long pending = out.totalPendingWriteBytes();
            if (message != seenMessage || progress != seenProgress || pending != seenPendingBytes) {
                seenMessage = message;
                seenProgress = progress;
                seenPendingBytes = pending;
                lastOutputMoveNanos = t;
            }
            write = lastOutputMoveNanos;
        }
        return Math.max(lastReadNanos, write);
    }

    private long now() {
        return ctx.executor().ticker().nanoTime();
    }
}
