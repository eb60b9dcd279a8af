package dev.tollgate.simulator;

import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * What every streamed simulator answer shares: it starts after the time to first token, writes its events in
 * bursts (or one paced unit per tick at the configured token rate), pauses while the channel is not writable and
 * resumes on writability, and plays the request's mid-stream fault (error event, reset, stall). Subclasses say
 * which event comes next and whether it was a paced unit.
 *
 * <p>Threading: confined to the channel's event loop.
 */
abstract class PacedStream implements SimulatedStream {
    private static final int BURST = 16;

    protected final Channel channel;
    protected final SimulatorConfig cfg;
    protected final FaultPlan fault;
    private final Runnable onEnd;
    private boolean paused;
    private boolean ended;
    private ScheduledFuture<?> timer;

    PacedStream(Channel channel, SimulatorConfig cfg, FaultPlan fault, Runnable onEnd) {
        this.channel = channel;
        this.cfg = cfg;
        this.fault = fault;
        this.onEnd = onEnd;
    }

    /** Writes the next event; false when the stream stopped (its end, or a fault). */
    protected abstract boolean emitNext();

    /** Whether the event just written is a paced unit (a token group): at a token rate, one per tick. */
    protected abstract boolean lastWasPaced();

    /** Starts generating after the configured time to first token. */
    final void startGenerating() {
        if (cfg.ttftMillis() > 0) {
            timer = channel.eventLoop().schedule(this::run, cfg.ttftMillis(), TimeUnit.MILLISECONDS);
        } else {
            channel.eventLoop().execute(this::run);
        }
    }

    @Override
    public final void onWritable() {
        if (paused && !ended && channel.isWritable()) {
            paused = false;
            run();
        }
    }

    @Override
    public final void cancel() {
        ended = true;
        if (timer != null) {
            timer.cancel(false);
        }
    }

    private void run() {
        timer = null;
        boolean paced = cfg.tokensPerSecond() > 0;
        for (int i = 0; i < BURST && !ended; i++) {
            if (!channel.isActive()) {
                cancel();
                return;
            }
            if (!channel.isWritable()) {
                paused = true;
                channel.flush();
                return;
            }
            if (!emitNext()) {
                channel.flush();
                return;
            }
            if (paced && lastWasPaced()) {
                break;
            }
        }
        channel.flush();
        if (ended) {
            return;
        }
        if (paced) {
            long nanos = cfg.tokensPerChunk() * 1_000_000_000L / cfg.tokensPerSecond();
            timer = channel.eventLoop().schedule(this::run, nanos, TimeUnit.NANOSECONDS);
        } else {
            channel.eventLoop().execute(this::run);
        }
    }

    /** Plays the fault: the error events then the end, a TCP reset, or a stall. Always false (the stream stops). */
    protected final boolean fire(String... errorEvents) {
        switch (fault.kind()) {
            case ERROR_AFTER -> {
                for (String e : errorEvents) {
                    write(e);
                }
                finish();
            }
            case RESET_AFTER -> {
                ended = true;
                channel.flush();
                channel.config().setOption(ChannelOption.SO_LINGER, 0);
                channel.close();
                onEnd.run();
            }
            default -> {
                // stall: keep the connection open and send nothing more.
                ended = true;
                channel.flush();
            }
        }
        return false;
    }

    protected final void write(String s) {
        channel.write(new DefaultHttpContent(ByteBufUtil.writeUtf8(channel.alloc(), s)), channel.voidPromise());
    }

    /** Ends the body; the stream is over. */
    protected final void finish() {
        ended = true;
        channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener((ChannelFutureListener) f -> onEnd.run());
    }
}
