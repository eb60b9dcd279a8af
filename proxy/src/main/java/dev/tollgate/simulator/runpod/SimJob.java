package dev.tollgate.simulator.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * One simulated job. It advances one step each time it is looked at ({@code /status}, {@code /stream}), so a
 * test knows its course without waiting for time: IN_QUEUE on the first look, IN_PROGRESS for
 * {@link #PROGRESS_STEPS} looks (its yields become available in equal parts), then its end state. Faults (the
 * input's {@code sim_fault}, else the simulator's): {@code fail} (FAILED, no output), {@code fail-partial}
 * (FAILED with the first half of its yields), {@code timeout} (TIMED_OUT), {@code hang} (IN_PROGRESS until
 * cancelled or released), {@code slow} ({@code /runsync} answers IN_PROGRESS), {@code expire} (404 after its
 * first look: its TTL passed), {@code rate-limit:N} (its first N looks are 429), {@code rate-limit:N:S} (the same, each 429 with
 * {@code Retry-After: S} seconds: RunPod's documentation does not promise the header, Tollgate honours it when
 * present). {@code delayTime} is 250 ms;
 * {@code executionTime} is 20 ms per completion token (50 tokens/s) unless the input sets
 * {@code sim_execution_ms}.
 *
 * <p>Threading: guarded by the simulator's lock.
 */
final class SimJob {
    static final int PROGRESS_STEPS = 2;
    static final long DELAY_MS = 250;

    final String id;
    final JsonNode input;
    final List<JsonNode> yields;
    final String fault;
    String status = "IN_QUEUE";
    int step;
    int drained;
    int rateLimited;
    boolean retried;
    /** A {@code hang} job let go by the test ({@link RunPodSimulator#release}). */
    boolean released;

    SimJob(String id, JsonNode input, String model, String defaultFault) {
        this.id = id;
        this.input = input;
        this.yields = SimOutput.yields(input, model);
        String f = input.path("sim_fault").asText(null);
        this.fault = f != null ? f : defaultFault;
    }

    boolean terminal() {
        return status.equals("COMPLETED") || status.equals("FAILED") || status.equals("CANCELLED")
                || status.equals("TIMED_OUT");
    }

    boolean expired() {
        return "expire".equals(fault) && step >= 2;
    }

    /** Whether this look is refused with 429 (the {@code rate-limit:N} fault). */
    boolean rateLimit() {
        if (fault != null && fault.startsWith("rate-limit:")
                && rateLimited < Integer.parseInt(fault.substring(11).split(":")[0])) {
            rateLimited++;
            return true;
        }
        return false;
    }

    /** The {@code Retry-After} of this job's 429 answers ({@code rate-limit:N:S}), or null. */
    String retryAfter() {
        if (fault == null || !fault.startsWith("rate-limit:")) {
            return null;
        }
        String[] p = fault.substring(11).split(":");
        return p.length > 1 ? p[1] : null;
    }

    /** One look: moves the job on. */
    void advance() {
        if (terminal()) {
            return;
        }
        step++;
        if (step == 1) {
            return; // Still queued on the first look.
        }
        status = "IN_PROGRESS";
        if ("hang".equals(fault) && !retried && !released) {
            return;
        }
        if (step > PROGRESS_STEPS) {
            finish();
        }
    }

    /** Runs the job to its end at once ({@code /runsync}). */
    void runToEnd() {
        if ("hang".equals(fault) && !retried && !released || "slow".equals(fault)) {
            step = Math.max(step, 2);
            status = "IN_PROGRESS";
            return;
        }
        step = PROGRESS_STEPS + 1;
        finish();
    }

    private void finish() {
        status = retried || fault == null ? "COMPLETED" : switch (fault) {
            case "fail", "fail-partial" -> "FAILED";
            case "timeout" -> "TIMED_OUT";
            default -> "COMPLETED";
        };
    }

    /** Yields produced so far. */
    int available() {
        if (status.equals("COMPLETED")) {
            return yields.size();
        }
        if (status.equals("FAILED") && "fail-partial".equals(fault) && !retried) {
            return yields.size() / 2;
        }
        if (status.equals("IN_PROGRESS") || status.equals("CANCELLED")) {
            int s = Math.min(step - 1, PROGRESS_STEPS);
            return Math.max(0, yields.size() * s / (PROGRESS_STEPS + 1));
        }
        return 0;
    }

    long executionMs() {
        JsonNode e = input.get("sim_execution_ms");
        if (e != null && e.canConvertToLong()) {
            return e.asLong();
        }
        return 20 * SimOutput.completionTokens(input);
    }

    /** The {@code /status} (and {@code /runsync}) answer. */
    ObjectNode statusBody() {
        ObjectNode b = JsonNodeFactory.instance.objectNode();
        if (!status.equals("IN_QUEUE")) {
            b.put("delayTime", DELAY_MS);
        }
        if (terminal()) {
            b.put("executionTime", status.equals("COMPLETED") ? executionMs() : executionMs() / 2);
        }
        b.put("id", id);
        int n = available();
        if (terminal() && (n > 0 || status.equals("COMPLETED"))) {
            var out = b.putArray("output");
            for (int i = 0; i < n; i++) {
                out.add(yields.get(i));
            }
        }
        b.put("status", status);
        if (status.equals("FAILED")) {
            b.put("error", "{'message': 'vLLM returned HTTP 500: simulated worker failure', 'type': 'worker_error', "
                    + "'code': None}");
        }
        if (!status.equals("IN_QUEUE")) {
            b.put("workerId", "simworker0001");
        }
        return b;
    }

    /** The {@code /stream} answer: what was yielded since the last {@code /stream} call (poll-and-drain). */
    ObjectNode streamBody() {
        ObjectNode b = JsonNodeFactory.instance.objectNode();
        b.put("status", status);
        var s = b.putArray("stream");
        int n = available();
        for (; drained < n; drained++) {
            s.addObject().set("output", yields.get(drained));
        }
        return b;
    }
}
