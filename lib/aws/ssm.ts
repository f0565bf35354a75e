import { SSMClient } from '@aws-sdk/client-ssm';

/**
 * The one way this project builds an SSM client (the AL2023 AMI lookup, the scraper's secrets): endpoint, region and
 * credentials from the SDK's standard chain.
 */
export function createSsmClient(): SSMClient {
  return new SSMClient({});
}
