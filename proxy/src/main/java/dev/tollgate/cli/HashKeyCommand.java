package dev.tollgate.cli;

import dev.tollgate.proxy.http.ApiKeys;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code tollgate hash-key KEY}: prints the SHA-256 to put in {@code api_keys}. */
@Command(name = "hash-key", mixinStandardHelpOptions = true,
        description = "Print the SHA-256 of an API key, as the config's api_keys entries store it.")
final class HashKeyCommand implements Callable<Integer> {
    @Parameters(paramLabel = "KEY", description = "The client API key.")
    String key;

    @Override
    public Integer call() {
        System.out.println(ApiKeys.hash(key));
        return 0;
    }
}
