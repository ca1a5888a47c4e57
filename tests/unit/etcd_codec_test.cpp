// What zd's etcd client computes itself (user/cluster/etcd.hpp): base64 of
// keys and values, the end of a prefix's range, the endpoint list, and the
// JSON objects of a streamed answer cut at any byte.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "error.hpp"
#include "etcd.hpp"

namespace {

using namespace zd::etcd;

TEST(EtcdCodec, Base64RoundTripsEveryLengthAndEveryByte) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("/zd/"), "L3pkLw==");
  EXPECT_EQ(base64("/zd/applied/"), "L3pkL2FwcGxpZWQv");
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes += static_cast<char>(i);
    EXPECT_EQ(unbase64(base64(bytes)), bytes) << "length " << bytes.size();
  }
}

TEST(EtcdCodec, Base64RefusesWhatEtcdWouldNeverSend) {
  for (const char *bad : {"abc", "ab=c", "a===", "ab!d", "====x==="})
    EXPECT_THROW(unbase64(bad), zd::Error) << bad;
}

TEST(EtcdCodec, APrefixEndsJustPastItsLastKey) {
  EXPECT_EQ(prefix_end("/zd/domains/"), "/zd/domains0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(std::string("\xff\xff", 2)), std::string(1, '\0')); // every key
}

TEST(EtcdCodec, EndpointsAreCheckedOneByOne) {
  const Options two = options("http://10.0.0.1:2379,https://etcd.example:2379/");
  EXPECT_EQ(two.endpoints,
            (std::vector<std::string>{"http://10.0.0.1:2379", "https://etcd.example:2379"}));
  for (const char *bad :
       {"", "10.0.0.1:2379", "http://10.0.0.1", "http://a:1,,http://b:2", "ftp://a:21"})
    EXPECT_THROW(options(bad), zd::Error) << bad;
  EXPECT_THROW(options("https://a:1", "", "cert.pem", ""), zd::Error) << "a cert needs its key";
}

// The gateway's answers, one object after another, cut at every byte: each
// object comes out whole, once, in order, whatever the cut.
TEST(EtcdCodec, StreamedObjectsComeOutWholeWhereverTheAnswerIsCut) {
  const std::string answer =
      R"({"result":{"created":true}})"
      "\n"
      R"({"result":{"events":[{"kv":{"key":"L3pk","value":"eyJ9In0="}}],"note":"a \"}\" in a string"}})"
      "\n"
      R"({"result":{"header":{"revision":"7"}}})"
      "\n";
  for (size_t cut = 0; cut <= answer.size(); ++cut) {
    std::vector<nlohmann::json> objects;
    ObjectStream stream([&](const nlohmann::json &o) {
      objects.push_back(o);
      return true;
    });
    ASSERT_TRUE(stream.feed(answer.data(), cut));
    ASSERT_TRUE(stream.feed(answer.data() + cut, answer.size() - cut));
    ASSERT_EQ(objects.size(), 3u) << "cut at " << cut;
    EXPECT_TRUE(objects[0]["result"]["created"].get<bool>());
    EXPECT_EQ(objects[1]["result"]["note"], "a \"}\" in a string");
    EXPECT_EQ(objects[2]["result"]["header"]["revision"], "7");
  }
  // on_object saying stop stops the stream.
  int seen = 0;
  ObjectStream stopping([&](const nlohmann::json &) { return ++seen < 2; });
  EXPECT_FALSE(stopping.feed(answer.data(), answer.size()));
  EXPECT_EQ(seen, 2);
}

} // namespace
