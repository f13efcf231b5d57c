// Run as a child process (tls-clients.test.ts) with the test CA trusted only through NODE_EXTRA_CA_CERTS, as a
// function platform would trust a private CA: the official @upstash/redis client over https://, and Sluice's own
// client over https:// and wss://. Prints one JSON line of what each got, or of the error that stopped it.
import { Redis } from '@upstash/redis';
import { WebSocket } from 'ws';
import { createClient } from '../../client/index.js';

const url = process.env['BROKER_URL']!;
const token = process.env['BROKER_TOKEN']!;
const results: Record<string, unknown> = {};
try {
  const sdk = new Redis({ url, token, enableTelemetry: false });
  results['sdkSet'] = await sdk.set('tls:sdk', { n: 1 });
  results['sdkGet'] = await sdk.get('tls:sdk');
  const pipeline = sdk.pipeline();
  pipeline.incr('tls:sdk:count');
  pipeline.incr('tls:sdk:count');
  results['sdkPipeline'] = await pipeline.exec();
  const http = createClient({ url, token });
  results['clientHttp'] = await http.incr('tls:client:count');
  await http.close();
  const ws = createClient({ url, token, transport: 'ws', WebSocket });
  results['clientWsSet'] = await ws.set('tls:client:ws', 'over wss');
  results['clientWsGet'] = await ws.get('tls:client:ws');
  await ws.close();
} catch (error) {
  const cause = (error as { cause?: { code?: string } }).cause;
  results['error'] = `${(error as Error).message}${cause?.code ? ` (${cause.code})` : ''}`;
}
process.stdout.write(`${JSON.stringify(results)}\n`);
