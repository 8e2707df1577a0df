// Java client 4.9.4: a new push-consumer group drains a topic's backlog from its first
// offset (issue 11's "new Java push-consumer group drains 300k"). Prints one line: messages
// per second from the first delivered message to the COUNT-th, and the CPU this client
// process spent in that window per message (the drain's floor on two shared cores).
//   java -cp <lib/*>:. PushDrain NAMESRV TOPIC GROUP COUNT
import java.lang.management.ManagementFactory;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;

public class PushDrain {
    public static void main(String[] args) throws Exception {
        String namesrv = args[0];
        String topic = args[1];
        String group = args[2];
        int count = Integer.parseInt(args[3]);
        CountDownLatch done = new CountDownLatch(count);
        AtomicLong first = new AtomicLong();
        AtomicLong firstCpu = new AtomicLong();
        com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
        consumer.setNamesrvAddr(namesrv);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.subscribe(topic, "*");
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
            if (first.get() == 0 && first.compareAndSet(0, System.nanoTime())) {
                firstCpu.set(os.getProcessCpuTime());
            }
            for (int i = 0; i < msgs.size(); i++) {
                done.countDown();
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        long started = System.nanoTime();
        consumer.start();
        done.await();
        long end = System.nanoTime();
        long cpu = os.getProcessCpuTime() - firstCpu.get();
        double seconds = (end - first.get()) / 1e9;
        System.out.printf("push drain: %d messages, %.2f s after the first (%.2f s after start), "
            + "client CPU %.1f us/msg, %.0f msgs/s%n",
            count, seconds, (end - started) / 1e9, cpu / 1e3 / count, count / seconds);
        consumer.shutdown();
    }
}
