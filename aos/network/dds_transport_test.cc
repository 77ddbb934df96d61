// What dds_transport.h computes about Cyclone DDS, checked against Cyclone
// itself: the serialized size of a forwarded message (from which the
// bridge counts fragments, i.e. partial deliveries) is the size of the
// serialized sample a reader actually receives.

#include "aos/network/dds_transport.h"

#include <dds/ddsi/ddsi_serdata.h>

#include <string>
#include <vector>

#include "aos/network/bridge.h"
#include "gtest/gtest.h"

namespace aos::message_bridge::testing {
namespace {

TEST(DdsTransportTest, SerializedBatchSizeIsCyclones) {
  // A domain of this process only: no peers, no multicast; a reader gets
  // the writer's samples locally.
  const int domain_id = 201;
  Result<std::unique_ptr<DdsDomain>> domain = DdsDomain::Create(
      domain_id, "<CycloneDDS><Domain Id=\"" + std::to_string(domain_id) +
                     "\"><General><AllowMulticast>false</AllowMulticast>"
                     "</General></Domain></CycloneDDS>");
  ASSERT_TRUE(domain.has_value()) << domain.error().message();
  dds_qos_t *qos = dds_create_qos();
  dds_qset_reliability(qos, DDS_RELIABILITY_RELIABLE, DDS_SECS(1));
  dds_qset_history(qos, DDS_HISTORY_KEEP_ALL, 0);
  const dds_entity_t writer =
      (*domain)->MakeWriter("size_test", &aos_bridge_Batch_desc, qos);
  const dds_entity_t reader =
      (*domain)->MakeReader("size_test", &aos_bridge_Batch_desc, qos);
  dds_delete_qos(qos);

  // Batches of one message of each size, and of several (every alignment
  // of the next message's fields).
  std::vector<std::vector<size_t>> batches;
  for (const size_t size :
       {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{5},
        size_t{100}, size_t{kFragmentSize - 60}, size_t{kFragmentSize - 59},
        size_t{1} << 20}) {
    batches.push_back({size});
  }
  batches.push_back({});
  batches.push_back({1, 2, 3, 4, 5, 6, 7, 8, 64, 64, 0});
  batches.push_back(std::vector<size_t>(200, 64));
  for (const std::vector<size_t> &sizes : batches) {
    std::vector<std::vector<uint8_t>> data;
    std::vector<aos_bridge_Message> messages(sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) {
      data.emplace_back(sizes[i], 0x5a);
      messages[i] = aos_bridge_Message{};
      messages[i].data._buffer = data.back().data();
      messages[i].data._length = static_cast<uint32_t>(sizes[i]);
      messages[i].data._maximum = static_cast<uint32_t>(sizes[i]);
      messages[i].data._release = false;
    }
    aos_bridge_Batch batch{};
    batch.messages._buffer = messages.data();
    batch.messages._length = static_cast<uint32_t>(messages.size());
    batch.messages._maximum = batch.messages._length;
    batch.messages._release = false;
    ASSERT_EQ(dds_write(writer, &batch), DDS_RETCODE_OK);
    struct ddsi_serdata *serdata = nullptr;
    dds_sample_info_t info;
    int count = 0;
    for (int i = 0; i < 1000 && count == 0; ++i) {
      count = dds_takecdr(reader, &serdata, 1, &info, 0);
      if (count == 0) dds_sleepfor(DDS_MSECS(1));
    }
    const std::string what =
        "batch of " + std::to_string(sizes.size()) + " (first " +
        (sizes.empty() ? "-" : std::to_string(sizes[0])) + " B)";
    ASSERT_EQ(count, 1) << what;
    EXPECT_EQ(ddsi_serdata_size(serdata), SerializedBatchSize(batch)) << what;
    ddsi_serdata_unref(serdata);
  }
}

TEST(DdsTransportTest, MessageFragments) {
  EXPECT_EQ(MessageFragments(0), 1u);
  // 4 + 4 + 4 (alignment) + 48 + data bytes, padded to 4: exactly one
  // fragment...
  EXPECT_EQ(MessageFragments(kFragmentSize - 60), 1u);
  // ...and one byte more is two.
  EXPECT_EQ(MessageFragments(kFragmentSize - 59), 2u);
  EXPECT_EQ(MessageFragments(size_t{1} << 20),
            ((size_t{1} << 20) + 60 + kFragmentSize - 1) / kFragmentSize);
}

}  // namespace
}  // namespace aos::message_bridge::testing
