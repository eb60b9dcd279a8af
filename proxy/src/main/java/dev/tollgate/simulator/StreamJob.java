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
 * Writes one SSE response, chunk by chunk, in vLLM's order: role chunks, content chunks (one choice each,
 * choices interleaved), finish chunks carrying the last text, the usage chunk, {@code [DONE]}. Paced by the
 * configured token rate; pauses while the channel is not writable and resumes on writability.
 *
 * <p>Threading: confined to the channel's event loop.
 */
final class StreamJob implements SimulatedStream {
    private static final int BURST = 16;

    private final Channel channel;
    private final SimulatedCompletion sc;
    private final SimulatorConfig cfg;
    private final FaultPlan fault;
    private final String head;
    private final long[] sent;
    private final long[] groups;
    private final long maxContentSteps;
    private final Runnable onEnd;
    private int phase;
    private int choice;
    private long step;
    private int contentChunks;
    private boolean paused;
    private boolean ended;
    private ScheduledFuture<?> timer;

    StreamJob(Channel channel, SimulatedCompletion sc, SimulatorConfig cfg, FaultPlan fault, String id, long created,
              Runnable onEnd) {
        this.channel = channel;
        this.sc = sc;
        this.cfg = cfg;
        this.fault = fault;
        this.onEnd = onEnd;
        this.head = ChunkFormat.head(sc, id, created, sc.model(cfg.model()));
        this.sent = new long[sc.choices()];
        this.groups = new long[sc.choices()];
        long most = 0;
        for (int c = 0; c < sc.choices(); c++) {
            groups[c] = (sc.completionTokens[c] + cfg.tokensPerChunk() - 1) / cfg.tokensPerChunk();
            most = Math.max(most, groups[c] - 1);
        }
        this.maxContentSteps = most;
        // Completions have no role chunk.
        this.phase = sc.kind == SimulatedCompletion.Kind.CHAT ? 0 : 1;
    }

    void start() {
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
        int burst = cfg.tokensPerSecond() > 0 ? 1 : BURST;
        for (int i = 0; i < burst && !ended; i++) {
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
        }
        channel.flush();
        if (ended) {
            return;
        }
        if (cfg.tokensPerSecond() > 0) {
            long nanos = cfg.tokensPerChunk() * 1_000_000_000L / cfg.tokensPerSecond();
            timer = channel.eventLoop().schedule(this::run, nanos, TimeUnit.NANOSECONDS);
        } else {
            channel.eventLoop().execute(this::run);
        }
    }

    /** Writes the next chunk; false when the job stopped (end of stream or fault). */
    private boolean emitNext() {
        switch (phase) {
            case 0 -> {
                write(ChunkFormat.roleChunk(head, choice, usage(choice, 0)));
                if (++choice == sc.choices()) {
                    choice = 0;
                    phase = 1;
                }
                return true;
            }
            case 1 -> {
                if (fault.firesAfter(contentChunks)) {
                    return fire();
                }
                // Every choice's content groups but its last (that one rides on the finish chunk), round robin.
                while (step < maxContentSteps) {
                    int c = choice;
                    long st = step;
                    if (++choice == sc.choices()) {
                        choice = 0;
                        step++;
                    }
                    if (st < groups[c] - 1) {
                        long from = st * cfg.tokensPerChunk();
                        long to = from + cfg.tokensPerChunk();
                        sent[c] = to;
                        contentChunks++;
                        write(ChunkFormat.contentChunk(sc, head, c, sc.text(c, from, to), null, usage(c, to)));
                        return true;
                    }
                }
                phase = 2;
                choice = 0;
                return true;
            }
            case 2 -> {
                int c = choice;
                long to = sc.completionTokens[c];
                write(ChunkFormat.contentChunk(sc, head, c, sc.text(c, sent[c], to), sc.finishReason(c), usage(c, to)));
                sent[c] = to;
                if (++choice == sc.choices()) {
                    phase = 3;
                }
                return true;
            }
            default -> {
                if (sc.includeUsage()) {
                    write(ChunkFormat.usageChunk(head, sc.promptTokens, sc.totalCompletionTokens()));
                }
                write(ChunkFormat.DONE);
                finish();
                return false;
            }
        }
    }

    private boolean fire() {
        switch (fault.kind()) {
            case ERROR_AFTER -> {
                write(ChunkFormat.MIDSTREAM_ERROR);
                write(ChunkFormat.DONE);
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

    private String usage(int c, long completion) {
        return sc.continuousUsage() ? ChunkFormat.usageMember(sc.promptTokens, completion) : "";
    }

    private void write(String s) {
        channel.write(new DefaultHttpContent(ByteBufUtil.writeUtf8(channel.alloc(), s)), channel.voidPromise());
    }

    private void finish() {
        ended = true;
        channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener((ChannelFutureListener) f -> onEnd.run());
    }
}
