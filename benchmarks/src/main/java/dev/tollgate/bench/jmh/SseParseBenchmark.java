package dev.tollgate.bench.jmh;

import dev.tollgate.metering.Route;
import dev.tollgate.metering.StreamMeter;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The metering tap's cost: a whole 512-token stream through {@link StreamMeter} (SSE parsing, JSON scanning,
 * usage high-water marks, the hide-usage decision per event), read in three shapes: one event per read (vLLM),
 * 50-event bursts (RunPod's legacy worker), and reads cut every 97 bytes (events split across reads). One
 * operation = one stream; divide the stream's size by the time for bytes/s (the harness prints it).
 * Run with {@code -prof gc} for allocation per operation.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Dio.netty.leakDetection.level=disabled", "-Xmx1g"})
public class SseParseBenchmark {
    /** Stream shape. */
    @Param({"event-per-read", "burst-50", "split-97"})
    public String shape;

    private byte[] stream;
    private int[] cuts;
    private final StreamMeter meter = new StreamMeter();
    private StreamMeter.EventSink sink;

    @Setup(Level.Trial)
    public void setup(Blackhole bh) {
        sink = (s, e, a, ss, se) -> bh.consume(a);
        stream = SseStreams.chatStream(512);
        int[] ends = SseStreams.eventEnds(stream);
        switch (shape) {
            case "event-per-read" -> cuts = ends;
            case "burst-50" -> {
                cuts = new int[(ends.length + 49) / 50];
                for (int i = 0; i < cuts.length; i++) {
                    cuts[i] = ends[Math.min(ends.length - 1, i * 50 + 49)];
                }
            }
            default -> {
                cuts = new int[(stream.length + 96) / 97];
                for (int i = 0; i < cuts.length; i++) {
                    cuts[i] = Math.min(stream.length, (i + 1) * 97);
                }
            }
        }
    }

    @Benchmark
    public long meterStream() {
        meter.reset(Route.CHAT_COMPLETIONS, false, false);
        meter.onResponseStart(200, true, 0);
        int from = 0;
        long t = 1;
        for (int cut : cuts) {
            meter.onBody(stream, from, cut - from, t++, sink);
            from = cut;
        }
        meter.onBodyEnd(t);
        return meter.upstreamCompletionTokens();
    }
}
