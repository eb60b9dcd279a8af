package dev.tollgate.simulator;

import io.netty.channel.Channel;

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
final class ResponsesStreamJob extends PacedStream {
    private final SimulatedCompletion sc;
    private final String id;
    private final long created;
    private final String model;
    private final long groups;
    private int seq;
    private int phase;
    private long group;
    private int deltas;
    private boolean lastWasDelta;

    ResponsesStreamJob(Channel channel, SimulatedCompletion sc, SimulatorConfig cfg, FaultPlan fault, String id,
                       long created, Runnable onEnd) {
        super(channel, cfg, fault, onEnd);
        this.sc = sc;
        this.id = id;
        this.created = created;
        this.model = sc.model(cfg.model());
        this.groups = (sc.completionTokens[0] + cfg.tokensPerChunk() - 1) / cfg.tokensPerChunk();
    }

    void start() {
        // The response is created at once; generation starts after the time to first token.
        write(ResponsesFormat.created(sc, id, created, model, "response.created", seq++));
        write(ResponsesFormat.created(sc, id, created, model, "response.in_progress", seq++));
        channel.flush();
        phase = 2;
        startGenerating();
    }

    @Override
    protected boolean lastWasPaced() {
        return lastWasDelta;
    }

    private String fullText() {
        return sc.text(0, 0, sc.completionTokens[0]);
    }

    /** Writes the next event; false when the job stopped (end of stream or fault). */
    @Override
    protected boolean emitNext() {
        lastWasDelta = false;
        switch (phase) {
            case 2 -> write(ResponsesFormat.itemAdded(sc, seq++));
            case 3 -> write(ResponsesFormat.partAdded(sc, seq++));
            case 4 -> {
                if (group < groups) {
                    if (fault.firesAfter(deltas)) {
                        return fire(ResponsesFormat.error(seq++));
                    }
                    long from = group * cfg.tokensPerChunk();
                    long to = Math.min(sc.completionTokens[0], from + cfg.tokensPerChunk());
                    write(ResponsesFormat.textDelta(sc, seq++, sc.text(0, from, to)));
                    group++;
                    deltas++;
                    lastWasDelta = true;
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
}
