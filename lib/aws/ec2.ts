import { EC2Client } from '@aws-sdk/client-ec2';

/**
 * The one way this project builds an EC2 client: endpoint, region and credentials from the SDK's standard
 * chain (AWS_ENDPOINT_URL_EC2 points EC2 at the local stack). The SDK's own retries stay on: RunInstances carries
 * a ClientToken, so a retried launch returns the same instance instead of a second one.
 */
export function createEc2Client(): EC2Client {
  return new EC2Client({});
}
