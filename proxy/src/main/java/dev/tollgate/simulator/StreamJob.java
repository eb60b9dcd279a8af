package dev.tollgate.simulator;

import io.netty.channel.Channel;

/**
 * Writes one SSE response, chunk by chunk, in vLLM's order: role chunks, content chunks (one choice each,
 * choices interleaved), finish chunks carrying the last text, the usage chunk, {@code [DONE]}. Paced by the
 * configured token rate; pauses while the channel is not writable and resumes on writability.
 *
 * <p>Threading: confined to the channel's event loop.
 */
final class StreamJob extends PacedStream {
    private final SimulatedCompletion sc;
    private final String head;
    private final long[] sent;
    private final long[] groups;
    private final long maxContentSteps;
    private int phase;
    private int choice;
    private long step;
    private int contentChunks;

    StreamJob(Channel channel, SimulatedCompletion sc, SimulatorConfig cfg, FaultPlan fault, String id, long created,
              Runnable onEnd) {
        super(channel, cfg, fault, onEnd);
        this.sc = sc;
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
        startGenerating();
    }

    @Override
    protected boolean lastWasPaced() {
        return true;
    }

    /** Writes the next chunk; false when the job stopped (end of stream or fault). */
    @Override
    protected boolean emitNext() {
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
                    return fire(ChunkFormat.MIDSTREAM_ERROR, ChunkFormat.DONE);
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

    private String usage(int c, long completion) {
        return sc.continuousUsage() ? ChunkFormat.usageMember(sc.promptTokens, completion) : "";
    }
}
