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

TEST(DdsTransportTest, SerializedMessageSizeIsCyclones) {
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
      (*domain)->MakeWriter("size_test", &aos_bridge_Message_desc, qos);
  const dds_entity_t reader =
      (*domain)->MakeReader("size_test", &aos_bridge_Message_desc, qos);
  dds_delete_qos(qos);

  for (const size_t size :
       {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{5},
        size_t{100}, size_t{kFragmentSize - 52}, size_t{kFragmentSize - 51},
        size_t{1} << 20}) {
    std::vector<uint8_t> data(size, 0x5a);
    aos_bridge_Message message{};
    message.data._buffer = data.data();
    message.data._length = static_cast<uint32_t>(size);
    message.data._maximum = static_cast<uint32_t>(size);
    message.data._release = false;
    ASSERT_EQ(dds_write(writer, &message), DDS_RETCODE_OK);
    struct ddsi_serdata *serdata = nullptr;
    dds_sample_info_t info;
    int count = 0;
    for (int i = 0; i < 1000 && count == 0; ++i) {
      count = dds_takecdr(reader, &serdata, 1, &info, 0);
      if (count == 0) dds_sleepfor(DDS_MSECS(1));
    }
    ASSERT_EQ(count, 1) << "size " << size;
    EXPECT_EQ(ddsi_serdata_size(serdata), SerializedMessageSize(size))
        << "size " << size;
    ddsi_serdata_unref(serdata);
  }
}

TEST(DdsTransportTest, MessageFragments) {
  EXPECT_EQ(MessageFragments(0), 1u);
  // 4 + 48 + data bytes, padded to 4: exactly one fragment...
  EXPECT_EQ(MessageFragments(kFragmentSize - 52), 1u);
  // ...and one byte more is two.
  EXPECT_EQ(MessageFragments(kFragmentSize - 51), 2u);
  EXPECT_EQ(MessageFragments(size_t{1} << 20),
            ((size_t{1} << 20) + 52 + kFragmentSize - 1) / kFragmentSize);
}

}  // namespace
}  // namespace aos::message_bridge::testing
