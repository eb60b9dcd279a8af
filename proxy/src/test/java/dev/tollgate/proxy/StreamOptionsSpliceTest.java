package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.metering.Route;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * The upstream body of a stream gets exactly the usage options Tollgate needs, and nothing else changes:
 * each case parses the spliced bytes with Jackson and compares with a tree written by hand.
 */
class StreamOptionsSpliceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CONT = "{\"include_usage\":true,\"continuous_usage_stats\":true}";

    private static String upstream(String body, boolean continuous) throws Exception {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        MeteredRequest m = MeteredRequest.parse(Route.CHAT_COMPLETIONS, b);
        return new String(m.upstreamBody(b, continuous), StandardCharsets.UTF_8);
    }

    // Bodies and expected trees; ' stands for " to keep the table readable.
    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            // no stream_options: inserted first
            "{'stream':true,'messages':[]}|{'stream_options':" + CONT + ",'stream':true,'messages':[]}",
            // stream_options first, last, only-other, with whitespace and newlines
            "{'stream_options':{'include_usage':false},'stream':true,'messages':[]}|{'stream_options':" + CONT + ",'stream':true,'messages':[]}",
            "{'stream':true,'messages':[],'stream_options':{'include_usage':false}}|{'stream_options':" + CONT + ",'stream':true,'messages':[]}",
            "{ 'messages' : [ ] ,~~'stream_options' :~~ { 'include_usage' : true } , 'stream' : true }|{'stream_options':" + CONT + ",'messages':[],'stream':true}",
            "{'stream':true,'stream_options':null,'messages':[]}|{'stream_options':" + CONT + ",'stream':true,'messages':[]}",
            // nested stream_options inside a message is the client's text, untouched
            "{'stream':true,'messages':[{'role':'user','content':'x','stream_options':{'a':1}}]}|{'stream_options':" + CONT + ",'stream':true,'messages':[{'role':'user','content':'x','stream_options':{'a':1}}]}",
            // unicode escapes and an escaped key that only decodes to stream_options
            "{'stream':true,'messages':[{'role':'user','content':'caf\\u00e9 \\ud83d\\ude00'}],'str\\u0065am_options':{}}|{'stream_options':" + CONT + ",'stream':true,'messages':[{'role':'user','content':'café 😀'}]}",
            // duplicate top-level members are all replaced
            "{'stream_options':{},'stream_options':{'include_usage':false},'stream':true,'messages':[]}|{'stream_options':" + CONT + ",'stream':true,'messages':[]}",
            "{'stream':true,'stream_options':1,'messages':[],'stream_options':'x'}|{'stream_options':" + CONT + ",'stream':true,'messages':[]}",
    })
    void splicedBodyHasTheExpectedTree(String body, String expected) throws Exception {
        String out = new String(StreamOptionsSplice.apply(body.replace('\'', '"').replace("~~", "\n\t\r\n").getBytes(StandardCharsets.UTF_8),
                true), StandardCharsets.UTF_8);
        assertEquals(JSON.readTree(expected.replace('\'', '"')), JSON.readTree(out));
    }

    @Test
    void everyOtherByteIsTheClients() throws Exception {
        String body = "{ \"model\" : \"m\",\n  \"messages\":[{\"role\":\"user\",\"content\":\"caf\\u00e9\"}],"
                + "\"temperature\":1.50E0 , \"stream_options\":{\"include_usage\":false},\"stream\":true }";
        String out = upstream(body, false);
        assertEquals("{\"stream_options\":{\"include_usage\":true}, \"model\" : \"m\",\n  \"messages\":[{\"role\":"
                + "\"user\",\"content\":\"caf\\u00e9\"}],\"temperature\":1.50E0 ,\"stream\":true }", out);
    }

    @Test
    void emptyObjectAndTheOnlyMember() throws Exception {
        assertEquals("{\"stream_options\":{\"include_usage\":true}}",
                new String(StreamOptionsSplice.apply("{}".getBytes(StandardCharsets.UTF_8), false),
                        StandardCharsets.UTF_8));
        assertEquals("{\"stream_options\":{\"include_usage\":true}  }",
                new String(StreamOptionsSplice.apply("{ \"stream_options\" : {\"a\":[1,{}]} }"
                        .getBytes(StandardCharsets.UTF_8), false), StandardCharsets.UTF_8));
    }

    @Test
    void bodiesThatNeedNothingAreSentAsReceived() throws Exception {
        byte[] notStreamed = "{\"messages\":[],\"max_tokens\":3}".getBytes(StandardCharsets.UTF_8);
        assertSame(notStreamed, MeteredRequest.parse(Route.CHAT_COMPLETIONS, notStreamed).upstreamBody(notStreamed, true));
        byte[] asked = "{\"messages\":[],\"stream\":true,\"stream_options\":{\"continuous_usage_stats\":true}}"
                .getBytes(StandardCharsets.UTF_8);
        assertSame(asked, MeteredRequest.parse(Route.CHAT_COMPLETIONS, asked).upstreamBody(asked, true));
        byte[] responses = "{\"input\":\"hi\",\"stream\":true}".getBytes(StandardCharsets.UTF_8);
        assertSame(responses, MeteredRequest.parse(Route.RESPONSES, responses).upstreamBody(responses, true));
        assertTrue(MeteredRequest.parse(Route.RESPONSES, responses).clientWantsUsage());
    }
}
