/**
 * Server reflection from the descriptor sets `make proto` builds with buf: the
 * unmodified FileDescriptorProtos, so imports (google/protobuf/timestamp.proto)
 * resolve in grpcurl and buf curl (proto-loader loses them: grpc-node #3018).
 */
import { readFileSync } from 'node:fs';
import { BinaryReader, WireType } from '@protobuf-ts/runtime';
import { ReflectionService } from '@grpc/reflection';

const DESCRIPTOR_SETS = ['descriptors.binpb', 'health-descriptors.binpb'];

/** splitFileDescriptorSet returns the encoded FileDescriptorProtos (field 1) of a FileDescriptorSet. */
export function splitFileDescriptorSet(bytes: Uint8Array): Buffer[] {
  const reader = new BinaryReader(bytes);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}

/** createReflectionService serves every file of the committed descriptor sets. */
export function createReflectionService(descriptorDir: URL): ReflectionService {
  const fileDescriptorProtos = DESCRIPTOR_SETS.flatMap((name) =>
    splitFileDescriptorSet(readFileSync(new URL(name, descriptorDir)))
  );
  // ReflectionService reads `fileDescriptorProtos` from each entry of a package definition.
  return new ReflectionService({ descriptors: { fileDescriptorProtos } } as never);
}
