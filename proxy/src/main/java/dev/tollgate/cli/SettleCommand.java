package dev.tollgate.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tollgate settle pending|resolve}: remote settlement operations an operator must look at, through the
 * running node's admin API ({@code /admin/v1/settle/...}); never by opening the database, where a second settler
 * could carry out the same operation twice.
 */
@Command(name = "settle", mixinStandardHelpOptions = true,
        description = "List and resolve settlement operations of unknown outcome (remote escrow backends).",
        subcommands = {SettleCommand.PendingCommand.class, SettleCommand.ResolveCommand.class})
final class SettleCommand implements Runnable {
    private static final ObjectMapper JSON = new ObjectMapper();

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: pending, resolve");
    }

    /** Where the running node's admin API is. */
    static final class Admin {
        @Option(names = "--admin", paramLabel = "URL", defaultValue = "http://127.0.0.1:9090",
                description = "The node's admin address (default: ${DEFAULT-VALUE}).")
        String url;

        @Option(names = "--token-env", paramLabel = "VAR", defaultValue = "TOLLGATE_ADMIN_TOKEN",
                description = "Environment variable holding the admin token, if one is configured (default: "
                        + "${DEFAULT-VALUE}).")
        String tokenEnv;

        JsonNode call(String method, String path, String body) {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url.replaceAll("/+$", "") + path))
                    .timeout(Duration.ofSeconds(30));
            String token = System.getenv(tokenEnv);
            if (token != null && !token.isBlank()) {
                b.header("authorization", "Bearer " + token.trim());
            }
            b.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofString(body));
            try {
                HttpResponse<String> r = HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
                JsonNode j = JSON.readTree(r.body());
                if (r.statusCode() != 200) {
                    throw new IllegalStateException(j.path("error").path("message").asText("HTTP " + r.statusCode()));
                }
                return j;
            } catch (IOException e) {
                throw new IllegalStateException("cannot reach the admin API at " + url + ": " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted");
            }
        }
    }

    @Command(name = "pending", mixinStandardHelpOptions = true,
            description = "List operations of unknown outcome and stuck ones, with age and reason.")
    static final class PendingCommand implements Callable<Integer> {
        @Mixin
        Admin admin;

        @Option(names = "--json", description = "JSON instead of a table.")
        boolean json;

        @Override
        public Integer call() {
            JsonNode j = admin.call("GET", "/admin/v1/settle/pending", null);
            if (json) {
                System.out.println(j.toPrettyString());
                return 0;
            }
            print(System.out, j);
            return 0;
        }

        static void print(PrintStream out, JsonNode j) {
            out.printf("%-48s %-8s %-20s %-20s %12s %8s  %s%n", "OPERATION", "STATE", "ACCOUNT", "WORKER", "AMOUNT",
                    "AGE", "REASON");
            for (JsonNode op : j.path("operations")) {
                out.printf("%-48s %-8s %-20s %-20s %12s %8s  %s%n", op.path("op_id").asText(),
                        op.path("state").asText(), op.path("account").asText(), op.path("worker").asText(),
                        op.path("amount").asText(), age(op.path("age_seconds").asLong()), op.path("reason").asText());
            }
            JsonNode h = j.path("health");
            out.printf("unknown: %d operation(s), %s USDC; stuck: %d%n", h.path("unknown_operations").asLong(),
                    dev.tollgate.escrow.pricing.Micros.format(h.path("unknown_micros").asLong()),
                    h.path("stuck_operations").asLong());
            for (JsonNode p : h.path("misconfigured")) {
                out.printf("misconfigured: account %s, worker %s: %s (%s)%n", p.path("account").asText(),
                        p.path("worker").asText(), p.path("code").asText(), p.path("message").asText());
            }
        }

        private static String age(long s) {
            return s >= 3600 ? s / 3600 + "h" + (s % 3600) / 60 + "m" : s >= 60 ? s / 60 + "m" + s % 60 + "s" : s + "s";
        }
    }

    @Command(name = "resolve", mixinStandardHelpOptions = true,
            description = "Resolve an operation of unknown outcome: with the escrow found by the operation id in its "
                    + "description (read from the service before anything is paid), or as not created.")
    static final class ResolveCommand implements Callable<Integer> {
        @Mixin
        Admin admin;

        @Parameters(index = "0", paramLabel = "OP", description = "The operation id (from 'settle pending').")
        String op;

        @ArgGroup(exclusive = true, multiplicity = "1")
        Outcome outcome;

        static final class Outcome {
            @Option(names = "--escrow-id", paramLabel = "ID", description = "The escrow this operation created.")
            String escrowId;

            @Option(names = "--not-created", description = "The operation created no escrow.")
            boolean notCreated;
        }

        @Override
        public Integer call() {
            ObjectNode body = JSON.createObjectNode().put("op_id", op);
            if (outcome.notCreated) {
                body.put("not_created", true);
            } else {
                body.put("escrow_id", outcome.escrowId);
            }
            JsonNode j = admin.call("POST", "/admin/v1/settle/resolve", body.toString());
            System.out.println(j.path("result").asText());
            return 0;
        }
    }
}
