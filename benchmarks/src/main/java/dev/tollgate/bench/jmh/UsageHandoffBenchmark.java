package dev.tollgate.bench.jmh;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.metering.agent.MeteringAgent;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Usage records handed from 1, 2 or 4 producer threads (the event loops) to the single metering thread, which
 * aggregates them and records the histograms. Failed offers (queue full: the record takes the overflow path)
 * are counted with {@link AuxCounters}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Dio.netty.leakDetection.level=disabled", "-Xmx2g"})
public class UsageHandoffBenchmark {
    /** The agent under test, shared by all producers. */
    @State(Scope.Group)
    public static class Agent {
        MeteringAgent agent;

        @Setup(Level.Iteration)
        public void start() {
            agent = new MeteringAgent(65_536);
            agent.start();
        }

        @TearDown(Level.Iteration)
        public void stop() {
            agent.close();
        }
    }

    /** Per-thread counters reported next to the throughput. */
    @AuxCounters(AuxCounters.Type.EVENTS)
    @State(Scope.Thread)
    public static class Counters {
        public long failedOffers;
    }

    /** A producer's record (records are immutable, so one can be submitted many times). */
    @State(Scope.Thread)
    public static class Producer {
        final UsageRecord record = new UsageRecord("req-1", "acct", "up", "model", Route.CHAT_COMPLETIONS, true, 42,
                128, UsageSource.UPSTREAM, 256, 0, 80_000_000, 900_000_000, 820_000_000, 899_000_000,
                Outcome.COMPLETED, 200);
    }

    private static void submit(Agent a, Producer p, Counters c) {
        long before = a.agent.overflowCount();
        a.agent.submit(p.record);
        if (a.agent.overflowCount() != before) {
            c.failedOffers++;
        }
    }

    @Benchmark
    @Group("producers1")
    @GroupThreads(1)
    public void one(Agent a, Producer p, Counters c) {
        submit(a, p, c);
    }

    @Benchmark
    @Group("producers2")
    @GroupThreads(2)
    public void two(Agent a, Producer p, Counters c) {
        submit(a, p, c);
    }

    @Benchmark
    @Group("producers4")
    @GroupThreads(4)
    public void four(Agent a, Producer p, Counters c) {
        submit(a, p, c);
    }
}
