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
 * Writes one streamed Responses API answer in vLLM's order: {@code response.created},
 * {@code response.in_progress}, {@code response.output_item.added}, {@code response.content_part.added}, one
 * {@code response.output_text.delta} per token group (paced like chat streams, after the configured time to
 * first token), {@code response.output_text.done}, {@code response.content_part.done},
 * {@code response.output_item.done}, {@code response.completed} with usage. Faults count delta events.
 * Pauses while the channel is not writable.
 *
 * <p>Threading: confined to the channel's event loop.
 */
final class ResponsesStreamJob implements SimulatedStream {
    private static final int BURST = 16;

    private final Channel channel;
    private final SimulatedCompletion sc;
    private final SimulatorConfig cfg;
    private final FaultPlan fault;
    private final String id;
    private final long created;
    private final String model;
    private final long groups;
    private final Runnable onEnd;
    private int seq;
    private int phase;
    private long group;
    private int deltas;
    private boolean paused;
    private boolean ended;
    private ScheduledFuture<?> timer;

    ResponsesStreamJob(Channel channel, SimulatedCompletion sc, SimulatorConfig cfg, FaultPlan fault, String id,
                       long created, Runnable onEnd) {
        this.channel = channel;
        this.sc = sc;
        this.cfg = cfg;
        this.fault = fault;
        this.id = id;
        this.created = created;
        this.model = sc.model(cfg.model());
        this.groups = (sc.completionTokens[0] + cfg.tokensPerChunk() - 1) / cfg.tokensPerChunk();
        this.onEnd = onEnd;
    }

    void start() {
        // The response is created at once; generation starts after the time to first token.
        write(ResponsesFormat.created(sc, id, created, model, "response.created", seq++));
        write(ResponsesFormat.created(sc, id, created, model, "response.in_progress", seq++));
        channel.flush();
        phase = 2;
        if (cfg.ttftMillis() > 0) {
            timer = channel.eventLoop().schedule(this::run, cfg.ttftMillis(), TimeUnit.MILLISECONDS);
        } else {
            channel.eventLoop().execute(this::run);
        }
    }

    @Override
    public void onWritable() {
        if (paused && !ended && channel.isWritable()) {
            paused = false;
            run();
        }
    }

    @Override
    public void cancel() {
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
            boolean wasDelta = phase == 4 && group < groups;
            if (!emitNext()) {
                channel.flush();
                return;
            }
            if (paced && wasDelta) {
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

    private String fullText() {
        return sc.text(0, 0, sc.completionTokens[0]);
    }

    /** Writes the next event; false when the job stopped (end of stream or fault). */
    private boolean emitNext() {
        switch (phase) {
            case 2 -> write(ResponsesFormat.itemAdded(sc, seq++));
            case 3 -> write(ResponsesFormat.partAdded(sc, seq++));
            case 4 -> {
                if (group < groups) {
                    if (fault.firesAfter(deltas)) {
                        return fire();
                    }
                    long from = group * cfg.tokensPerChunk();
                    long to = Math.min(sc.completionTokens[0], from + cfg.tokensPerChunk());
                    write(ResponsesFormat.textDelta(sc, seq++, sc.text(0, from, to)));
                    group++;
                    deltas++;
                    return true;
                }
                write(ResponsesFormat.textDone(sc, seq++, fullText()));
            }
            case 5 -> write(ResponsesFormat.partDone(sc, seq++, fullText()));
            case 6 -> write(ResponsesFormat.itemDone(sc, seq++, fullText()));
            default -> {
                write(ResponsesFormat.completed(sc, id, created, model, seq++, fullText()));
                finish();
                return false;
            }
        }
        phase++;
        return true;
    }

    private boolean fire() {
        switch (fault.kind()) {
            case ERROR_AFTER -> {
                write(ResponsesFormat.error(seq++));
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
                ended = true;
                channel.flush();
            }
        }
        return false;
    }

    private void write(String s) {
        channel.write(new DefaultHttpContent(ByteBufUtil.writeUtf8(channel.alloc(), s)), channel.voidPromise());
    }

    private void finish() {
        ended = true;
        channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener((ChannelFutureListener) f -> onEnd.run());
    }
}
